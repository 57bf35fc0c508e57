"""The real Lambda bundle for AWS (manylinux x86_64 wheels, built with pip, no Docker): it must fit
Lambda's 250 MB unzipped limit for function plus layers, and carry the handlers' bytecode."""

from __future__ import annotations

import json

import pytest

from mlops_core.config import load_config

from .conftest import synth

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MiB, AWS's limit for function code plus layers


def _size(path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def aws_assembly(tmp_path_factory):
    _, assembly = synth("aws", tmp_path_factory.mktemp("bundle-aws"), bundle=True)
    return assembly


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


def test_given_the_aws_bundle_then_the_handlers_imports_are_precompiled_and_tests_trimmed(aws_assembly):
    (layer_dir,) = [p for p in aws_assembly.glob("asset.*") if (p / "python" / "sklearn").is_dir()]
    site = layer_dir / "python"
    assert list((site / "sklearn" / "__pycache__").glob("*.cpython-312.pyc"))
    assert list((site / "numpy" / "__pycache__").glob("*.cpython-312.pyc"))
    assert not list(site.rglob("tests"))
    assert (site / "numpy" / "f2py").is_dir()  # scipy imports it: never trimmed
