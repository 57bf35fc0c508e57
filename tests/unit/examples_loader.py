"""Imports an example's make_data.py (examples are scripts, not a package), and its configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from mlops_core.config import ProjectConfig, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str = "breast-cancer") -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name.replace('-', '_')}_example", EXAMPLES / name / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_config(name: str) -> ProjectConfig:
    return load_config(EXAMPLES / name / "mlops.toml")
