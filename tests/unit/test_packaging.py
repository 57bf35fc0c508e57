"""A normal (non-editable) install of the project carries every package: built as a wheel, installed into a
folder of its own, and imported from there, away from the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mlops_core", "mlopsctl")


def _build_wheel(out: Path) -> Path:
    """The wheel built from a fresh copy of the sources (a build in the checkout would reuse its build/ folder)."""
    source = out / "source"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    # --no-build-isolation: the build backend (setuptools, pinned in requirements.txt) is already installed, so
    # the test needs no network.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("serverless_mlops-*.whl"))


def test_given_the_wheel_then_it_holds_every_module_of_the_packages(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.endswith(".py")}
    sources = {p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert sources <= packed, sorted(sources - packed)


def test_given_an_installed_wheel_when_imported_away_from_the_checkout_then_every_package_loads(tmp_path):
    wheel = _build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import importlib, pkgutil, sys, mlops_core, mlopsctl\n"
        "for package in (mlops_core, mlopsctl):\n"
        "    assert package.__file__.startswith(sys.argv[1]), package.__file__\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if module.name != 'mlopsctl.__main__':\n"
        "            importlib.import_module(module.name)\n"
        "loaded = [m for n, m in sys.modules.items() if n.split('.')[0] in ('mlops_core', 'mlopsctl')]\n"
        "elsewhere = [m.__name__ for m in loaded if not (m.__file__ or '').startswith(sys.argv[1])]\n"
        "print(elsewhere or 'ok')\n"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(site)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "mlopsctl", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert help_text.returncode == 0 and "status" in help_text.stdout, help_text.stderr
