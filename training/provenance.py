"""What code a training run executed: a digest a manifest records beside each input file's key, S3 version id
and SHA-256 (training/data.py), the config (`mlops_core.config.config_record`) and the libraries, so a run can be
trained again from exactly what it read (training/reproduce.py) and anyone can say why it would differ.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("mlops_core", "training", "pipelines")  # what a training run executes, besides its libraries
DISTRIBUTION = "serverless-mlops"


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
