"""What a model version was made from, beyond its data and libraries: the config's bytes and the code's digest.

A manifest records these beside each input file's key, S3 version id and SHA-256 (training/data.py), so a run
can be trained again from exactly what it read (training/reproduce.py) and anyone can say why it would differ.
"""

from __future__ import annotations

import hashlib
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_core.config import ProjectConfig, config_path
from mlops_core.config.project import parse_config

ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("mlops_core", "training", "pipelines")  # what a training run executes, besides its libraries
DISTRIBUTION = "serverless-mlops"


def config_record(path: Path | None = None) -> dict[str, str]:
    """The config file a run used: its SHA-256 and its text (small), so the run can be repeated with it."""
    data = (path or config_path()).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "text": data.decode()}


def recorded_config(record: dict[str, str]) -> ProjectConfig:
    """The config a run recorded, parsed again."""
    return parse_config(tomllib.loads(record["text"]))


def code_record(root: Path = ROOT) -> dict[str, str | None]:
    """The code a run executed: a SHA-256 over the Python files of CODE_PACKAGES (paths and bytes, sorted) and the
    package's version when it is installed as a distribution (not in a Lambda bundle or the training image)."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        version: str | None = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = None
    return {"sha256": digest.hexdigest(), "package_version": version}


def provenance() -> dict[str, Any]:
    """The manifest's `config` and `code` for this process (its library versions: training/train.py)."""
    return {"config": config_record(), "code": code_record()}
