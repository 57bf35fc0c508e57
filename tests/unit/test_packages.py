"""mlops_core's packages as a newcomer reads them: each map names every module, every re-exported name resolves,
the functions that need no model (staleness, retraining, training_ended) start without pandas, scipy or
scikit-learn, and those that load one (scoring, online) import scikit-learn and scipy only with it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "data", "modeling", "monitoring", "registry", "storage")


@pytest.mark.parametrize("name", PACKAGES)
def test_given_a_package_then_its_map_names_every_module_and_every_exported_name_resolves(name):
    package = importlib.import_module(f"mlops_core.{name}")
    modules = sorted(p.stem for p in (ROOT / "mlops_core" / name).glob("*.py") if p.stem != "__init__")
    unmapped = [module for module in modules if f"``{module}``" not in package.__doc__]
    assert not unmapped, f"mlops_core/{name}/__init__.py's docstring does not name {unmapped}"
    missing = [export for export in package.__all__ if getattr(package, export, None) is None]
    assert not missing


def test_given_the_top_package_then_its_map_names_every_package_and_module():
    import mlops_core

    entries = sorted(p.stem if p.is_file() else p.name for p in (ROOT / "mlops_core").iterdir())
    entries = [e for e in entries if e not in ("__init__", "__pycache__")]
    assert [e for e in entries if f"``{e}``" not in mlops_core.__doc__] == []


@pytest.mark.parametrize(
    "handler", ["staleness.handler", "retraining.handler", "training_ended.handler", "online_monitor.handler"]
)
def test_given_a_function_that_loads_no_model_when_its_handler_is_imported_then_no_modelling_library_loads(handler):
    assert _loaded_on_import(handler, ("pandas", "scipy", "sklearn")) == []


@pytest.mark.parametrize("handler", ["scoring.handler", "online.handler"])
def test_given_a_function_that_loads_a_model_when_its_handler_is_imported_then_sklearn_and_scipy_wait_for_it(handler):
    assert _loaded_on_import(handler, ("scipy", "sklearn")) == []


def _loaded_on_import(handler: str, libraries: tuple[str, ...]) -> list[str]:
    """Which of `libraries` a clean interpreter has loaded after importing `handler`."""
    loaded = f"sorted(m for m in {libraries!r} if m in sys.modules)"
    probe = f"import sys, json, {handler}; print(json.dumps({loaded}))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'lambdas'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)
