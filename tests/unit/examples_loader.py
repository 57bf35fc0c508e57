"""Imports examples/breast-cancer/make_data.py (examples are scripts, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer" / "make_data.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("breast_cancer_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
