"""The real Lambda bundle for AWS (manylinux x86_64 wheels, built with pip, no Docker): it must fit
Lambda's 250 MB unzipped limit for function plus layers, carry the handlers' bytecode, and still do,
trimmed, what the functions do with it (layer_probe.py, in a clean interpreter)."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from infra.bundling import TRIM_GLOBS, _failing_imports, _module_name
from mlops_core.config import load_config

from .conftest import synth

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MiB, AWS's limit for function code plus layers
ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("layer_probe.py")
# What Lambda's Python runtime puts on the path after the layer (boto3 is not in the layer).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3")


def _size(path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def aws_assembly(tmp_path_factory, worker_id):
    """The AWS bundle, built once per test session: on pytest-xdist workers the first to need it builds it
    under a lock in their shared temporary folder and the others wait and reuse it (pip takes ~30 s)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base
    built = shared / "bundle-aws.built"
    with open(shared / "bundle-aws.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            _, assembly = synth("aws", Path(tempfile.mkdtemp(prefix="bundle-aws-", dir=shared)), bundle=True)
            built.write_text(str(assembly))
    return Path(built.read_text())


@pytest.fixture(scope="module")
def site(aws_assembly) -> Path:
    (layer_dir,) = [p for p in aws_assembly.glob("asset.*") if (p / "python" / "sklearn").is_dir()]
    return layer_dir / "python"


@pytest.fixture(scope="module")
def code_dir(aws_assembly) -> Path:
    (code,) = [p for p in aws_assembly.glob("asset.*") if (p / "scoring" / "handler.py").is_file()]
    return code


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory) -> Path:
    """A stand-in for the runtime's own packages: links to this environment's copies, nothing else."""
    runtime = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(importlib.util.find_spec(name).submodule_search_locations[0])
    return runtime


def test_given_the_aws_bundle_then_function_plus_layer_fit_the_unzipped_limit(aws_assembly):
    template = json.loads((aws_assembly / f"{load_config().stack_name}.template.json").read_text())
    assets = {p.name.removeprefix("asset."): p for p in aws_assembly.glob("asset.*") if p.is_dir()}
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    layers = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"}
    (layer,) = layers.values()
    layer_size = _size(assets[layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")])
    for function in functions:
        code_size = _size(assets[function["Properties"]["Code"]["S3Key"].removesuffix(".zip")])
        assert code_size + layer_size < LAMBDA_UNZIPPED_LIMIT, (code_size, layer_size)
    print(f"layer {layer_size / 1e6:.1f} MB, code {code_size / 1e6:.2f} MB (unzipped)")


def test_given_the_aws_bundle_then_the_handlers_imports_are_precompiled_and_tests_trimmed(site):
    assert list((site / "sklearn" / "__pycache__").glob("*.cpython-312.pyc"))
    assert list((site / "numpy" / "__pycache__").glob("*.cpython-312.pyc"))
    # the CSV reader's modules, loaded only when a file is read
    assert list((site / "pandas" / "io" / "parsers" / "__pycache__").glob("c_parser_wrapper.cpython-312.pyc"))
    assert not list(site.rglob("tests"))
    assert not (site / "pandas" / "tests").exists()
    for pattern in TRIM_GLOBS:
        assert not list(site.glob(pattern)), pattern
    assert (site / "numpy" / "f2py").is_dir()  # scipy imports it: never trimmed
    assert (site / "scipy" / "io").is_dir()  # sklearn.datasets imports it, and every sklearn module must import


def test_given_the_aws_bundle_then_pandas_and_its_dependencies_are_in_the_layer_at_the_pinned_versions(site):
    dists = dict(p.name.removesuffix(".dist-info").split("-") for p in site.glob("*.dist-info"))
    assert dists["pandas"] == "3.1.1"
    assert dists["six"] == "1.17.0"
    # The layer comes before the runtime's botocore on sys.path, and botocore needs python-dateutil < 3.
    assert dists["python_dateutil"].startswith("2.")
    assert (site / "dateutil").is_dir()
    assert (site / "six.py").is_file()


@pytest.mark.skipif(not shutil.which("readelf"), reason="needs binutils' readelf")
def test_given_the_aws_bundle_then_stripped_extension_modules_still_import(site):
    """Extension modules without a symbol table (stripped by the bundler, or shipped so): each imports."""
    stripped, kept = [], []
    for so in sorted(site.rglob("*.so")):
        if so.parent.name.endswith(".libs"):
            continue
        sections = subprocess.run(["readelf", "-S", "-W", str(so)], check=True, capture_output=True, text=True)
        (kept if " .symtab " in sections.stdout else stripped).append(so)
    # The bundler stripped scikit-learn's and scipy's unpatched modules (the wheels ship them unstripped).
    assert any(so.is_relative_to(site / "sklearn") for so in stripped)
    assert any(so.is_relative_to(site / "scipy") for so in stripped)
    assert _failing_imports(sys.executable, site, [_module_name(site, so) for so in stripped]) == set()


def test_given_the_trimmed_layer_then_the_functions_work_with_it_in_a_clean_interpreter(site, code_dir, runtime_dir):
    """Handlers import; pandas parses a CSV with its C parser; both OpenBLAS builds compute; each example
    project's pipeline fits, predicts and survives a joblib round trip; the drift and calibration paths of
    scikit-learn run; every scikit-learn estimator imports; nothing comes from outside the layer, the code
    and the runtime's boto3."""
    configs = [code_dir / "mlops.toml", *sorted((ROOT / "examples").glob("*/mlops.toml"))]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(map(str, [code_dir, site, runtime_dir])),  # Lambda's order
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    run = subprocess.run(
        [sys.executable, "-S", "-P", str(PROBE), str(site), str(code_dir), str(runtime_dir), *map(str, configs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["foreign"] == []
    assert report["csv"]["pandas"] == "3.1.1"
    assert len(report["blas"]) == 2  # numpy's ILP64 OpenBLAS and scipy's LP64 one: different ABIs
    assert all(Path(lib).is_relative_to(site) for lib in report["blas"])
    assert set(report["pipelines"].values()) == {"binary", "multiclass", "regression"}
    assert report["estimators"] > 150
