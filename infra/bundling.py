"""Lambda assets built on the host with pip, never with Docker (there is no Docker engine here).

Two assets serve every function:
- the dependency layer (scikit-learn, numpy, scipy, pandas, joblib, Powertools) from
  lambdas/requirements.txt, trimmed to fit Lambda's 250 MB limit (tests, sources and headers,
  test-only extension modules, two legacy scipy subpackages nothing imports, the symbol tables of
  extension modules that auditwheel left unpatched) and with precompiled bytecode for the modules the
  handlers import (Lambda's file system is read-only, so without it every cold start compiles);
- the code asset: the handler packages under lambdas/, the shared mlops_core package, the training
  package, the user's own pipelines/ package (`[model] pipeline`: its classes must unpickle wherever a
  model is loaded) and the chosen project config (as mlops.toml, where the handlers load it), so that
  every function runs the same shared code.
"""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from mlops_core.config import CONFIG_FILE

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambdas"
# The packages at the repository root every function carries (the handlers' packages come from LAMBDA_DIR).
SHARED_PACKAGES = ("mlops_core", "training", "pipelines")
REQUIREMENTS = LAMBDA_DIR / "requirements.txt"
PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
# Bumped when the bundling steps change, so that cached assets are rebuilt.
BUNDLER_VERSION = "4"

# Not needed at run time: tests (46.5 of the 246.7 MB pip installs, pandas' 15.7), headers, stubs, Cython
# sources, sample data (49.3 MB in all).
TRIM_DIR_NAMES = {"tests", "test", "__pycache__", "include", "datasets/data", "datasets/images"}
TRIM_SUFFIXES = (".pyi", ".pxd", ".pyx", ".c", ".h", ".cpp", ".hpp", ".f", ".f90")
# Imported by nothing we ship (a static scan of every import statement and of the module names inside
# every extension module of the layer, tests aside, found no importer): extension modules that only
# numpy's and scipy's test suites load (~2 MB), and scipy's legacy `odr` and `fftpack` (~1 MB; other
# scipy subpackages import each other, and scikit-learn imports the rest, so they all stay).
TRIM_GLOBS = (
    "numpy/_core/_simd.*.so",
    "numpy/_core/_*_tests.*.so",
    "scipy/*/_test_*.so",
    "scipy/ndimage/_ctest.*.so",
    "scipy/ndimage/_cytest.*.so",
    "scipy/odr",
    "scipy/fftpack",
)
# pip's options for wheels of the AWS platform (Lambda's python3.12 on manylinux x86_64).
AWS_PLATFORM_ARGS = [
    "--platform=manylinux_2_28_x86_64",
    "--platform=manylinux2014_x86_64",
    "--implementation=cp",
    f"--python-version={PYTHON_VERSION}",
    "--only-binary=:all:",
]
# Handler modules whose import closure gets precompiled bytecode.
HANDLER_MODULES = (
    "scoring.handler",
    "retraining.handler",
    "training_job.handler",
    "online.handler",
    "online_monitor.handler",
)
# The Docker image CDK would use if local bundling ever declined (it never does).
UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/sam/build-python3.12")


def _python312() -> str:
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    from mlopsctl.localaws import find_python  # noqa: PLC0415 - only needed off 3.12

    return str(find_python(PYTHON_VERSION))


def _trim(site: Path) -> None:
    for path in sorted(site.rglob("*"), reverse=True):
        rel = path.relative_to(site).as_posix()
        if path.is_dir() and (path.name in TRIM_DIR_NAMES or any(rel.endswith(d) for d in TRIM_DIR_NAMES)):
            # numpy/f2py is imported by scipy and must stay; only its tests go.
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in TRIM_SUFFIXES:
            path.unlink()
    for pattern in TRIM_GLOBS:
        for path in site.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def _probe_env(site: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        "PYTHONPATH": os.pathsep.join([str(site), str(LAMBDA_DIR), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _module_name(site: Path, extension: Path) -> str:
    return ".".join(extension.relative_to(site).with_suffix("").with_suffix("").parts)


def _output(*command: str) -> str:
    return subprocess.run(command, check=False, capture_output=True, text=True).stdout


def _unpatched_extension_modules(site: Path, readelf: str) -> list[Path]:
    """Extension modules with no RPATH or RUNPATH: the ones auditwheel did not edit with patchelf."""
    return [
        so
        for so in sorted(site.rglob("*.so"))
        if not so.parent.name.endswith(".libs")
        and not re.search(r"\((RPATH|RUNPATH)\)", _output(readelf, "-d", str(so)))
    ]


def _failing_imports(python: str, site: Path, names: list[str]) -> set[str]:
    """The modules among `names` that do not import from the layer (all of them if the probe itself dies)."""
    probe = (
        "import importlib, json, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name.rpartition('.')[0])  # as a program would: the package first\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name)\n"
        "print(json.dumps(failed))\n"
    )
    run = subprocess.run(
        [python, "-c", probe, *names], check=False, env=_probe_env(site), capture_output=True, text=True
    )
    return set(json.loads(run.stdout.splitlines()[-1])) if run.returncode == 0 else set(names)


def _strip_symbols(python: str, site: Path) -> int:
    """Drop the symbol tables of extension modules (not their dynamic symbols, which loading uses); return
    the bytes saved (~8 MB). Only with GNU strip, only modules auditwheel did not patch (stripping a
    patchelf-edited file can break it; the vendored *.libs are all patched), and only what still imports
    afterwards: a module that does not is put back as it came."""
    strip, readelf = shutil.which("strip"), shutil.which("readelf")
    if not (strip and readelf and "GNU" in _output(strip, "--version")):
        return 0
    modules = _unpatched_extension_modules(site, readelf)
    before = sum(so.stat().st_size for so in modules)
    with tempfile.TemporaryDirectory(prefix="unstripped-") as tmp:
        originals = [Path(tmp) / str(i) for i in range(len(modules))]
        for so, original in zip(modules, originals, strict=True):
            shutil.copy2(so, original)
        subprocess.run([strip, "--strip-unneeded", *map(str, modules)], check=True)
        failed = _failing_imports(python, site, [_module_name(site, so) for so in modules])
        for so, original in zip(modules, originals, strict=True):
            if _module_name(site, so) in failed:
                shutil.copy2(original, so)
    return before - sum(so.stat().st_size for so in modules)


def _compile_import_closure(python: str, site: Path) -> int:
    """Write unchecked-hash .pyc files for every layer module the handlers import; return how many."""
    probe = (
        "import importlib, io, json, sys\n"
        f"for m in {HANDLER_MODULES!r}: importlib.import_module(m)\n"
        # pandas' CSV reader, wherever a handler imports it: what reading a file loads gets bytecode too.
        "import pandas\n"
        "pandas.read_csv(io.StringIO('a,b\\n1,x\\n'), engine='c').to_csv(io.StringIO())\n"
        "print(json.dumps(sorted({getattr(m, '__file__', None) or '' for m in list(sys.modules.values())})))\n"
    )
    out = subprocess.run([python, "-c", probe], env=_probe_env(site), check=True, capture_output=True, text=True).stdout
    files = [Path(f) for f in json.loads(out.splitlines()[-1]) if f.endswith(".py")]
    layer_files = [f for f in files if f.is_relative_to(site)]
    for f in layer_files:
        # Unchecked hashes: the asset zip does not keep source mtimes, which would invalidate
        # timestamp-based .pyc files on every cold start.
        py_compile.compile(str(f), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return len(layer_files)


@jsii.implements(ILocalBundling)
class DependencyLayerBundling:
    """pip-installs lambdas/requirements.txt into <asset>/python for the target platform."""

    def __init__(self, *, for_host: bool) -> None:
        self.for_host = for_host

    def try_bundle(self, output_dir: str, *, image=None, **_options) -> bool:
        site = Path(output_dir) / "python"
        python = _python312()
        platform_args = [] if self.for_host else AWS_PLATFORM_ARGS
        pip_install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
        subprocess.run([*pip_install, "-r", str(REQUIREMENTS), "--target", str(site), *platform_args], check=True)
        _trim(site)
        # Stripping is checked and bytecode produced by running the wheels: on the host, or on a linux
        # x86_64 machine for the AWS platform (which this is).
        if self.for_host or (sys.platform == "linux" and os.uname().machine == "x86_64"):
            _strip_symbols(python, site)
            _compile_import_closure(python, site)
        return True


@jsii.implements(ILocalBundling)
class CodeBundling:
    """Copies the handler packages, the shared packages and the project's config file into the asset."""

    def __init__(self, *, config_file: Path) -> None:
        self.config_file = config_file

    def try_bundle(self, output_dir: str, *, image=None, **_options) -> bool:
        out = Path(output_dir)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile", "requirements*.txt")
        for package in sorted(p for p in LAMBDA_DIR.iterdir() if (p / "__init__.py").exists()):
            shutil.copytree(package, out / package.name, ignore=ignore)
        for name in SHARED_PACKAGES:
            shutil.copytree(ROOT / name, out / name, ignore=ignore)
        shutil.copy2(self.config_file, out / CONFIG_FILE)
        return True


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _files(package: Path) -> list[Path]:
    """Every file of a package the code asset copies, sorted: its modules and any data files beside them."""
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def dependency_layer_code(*, for_host: bool) -> lambda_.Code:
    """The layer's code; its hash depends only on the requirements and the platform."""
    asset_hash = _digest(REQUIREMENTS.read_bytes(), f"host={for_host}/v{BUNDLER_VERSION}".encode())
    return lambda_.Code.from_asset(
        str(LAMBDA_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=BundlingOptions(image=UNUSED_IMAGE, local=DependencyLayerBundling(for_host=for_host)),
    )


def function_code(config_file: Path) -> lambda_.Code:
    """The code asset shared by every function, with `config_file` as its mlops.toml.

    Its hash follows the source files and the config's bytes (wherever the config lives).
    """
    sources = [
        *sorted(LAMBDA_DIR.rglob("*.py")),
        *(path for package in SHARED_PACKAGES for path in _files(ROOT / package)),
    ]
    asset_hash = _digest(
        *(p.relative_to(ROOT).as_posix().encode() + p.read_bytes() for p in sources),
        CONFIG_FILE.encode() + config_file.read_bytes(),
    )
    # The source path only matters when bundling is skipped (template tests): keep it small.
    return lambda_.Code.from_asset(
        str(LAMBDA_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=BundlingOptions(image=UNUSED_IMAGE, local=CodeBundling(config_file=config_file)),
    )
