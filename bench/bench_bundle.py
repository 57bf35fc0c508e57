"""Bundle sizes of the AWS target (manylinux wheels, as deployed): the shared layer and each function's
code, unzipped (Lambda's 250 MB limit counts these) and zipped (what is uploaded); the layer's unzipped
size by distribution too (its files as the wheels' RECORDs list them, vendored *.libs included, plus the
bytecode the bundler compiled for them).

    .venv/bin/python bench/bench_bundle.py
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.app import synthesize  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _unzipped(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _zipped(path: Path, scratch: Path) -> int:
    return Path(shutil.make_archive(str(scratch / path.name), "zip", path)).stat().st_size


def layer_packages(site: Path) -> dict[str, float]:
    """MB per distribution installed in `site`, largest first; bytecode counts for its source's owner."""
    owner = {}
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        with record.open(newline="") as f:
            for row in csv.reader(f):
                owner[(site / row[0]).resolve()] = name
    sizes: Counter[str] = Counter()
    for f in site.rglob("*"):
        if not f.is_file():
            continue
        source = f.resolve()
        if f.parent.name == "__pycache__":  # x.cpython-312.pyc belongs to whoever owns x.py
            source = f.parent.parent.resolve() / (f.name.split(".")[0] + ".py")
        sizes[owner.get(source, "(other)")] += f.stat().st_size
    return {name: round(size / 1e6, 2) for name, size in sizes.most_common()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template, assembly = synthesize("aws", Path(tmp) / "cdk.out", bundle=True)
        assets = {p.name.removeprefix("asset."): p for p in assembly.glob("asset.*") if p.is_dir()}
        sizes = {}
        for resource in template["Resources"].values():
            if resource["Type"] not in ("AWS::Lambda::LayerVersion", "AWS::Lambda::Function"):
                continue
            code = resource["Properties"].get("Content") or resource["Properties"].get("Code")
            if "S3Key" not in code:
                continue
            name = "layer" if resource["Type"] == "AWS::Lambda::LayerVersion" else "function code"
            path = assets[code["S3Key"].removesuffix(".zip")]
            sizes[name] = {
                "unzipped_mb": round(_unzipped(path) / 1e6, 1),
                "zipped_mb": round(_zipped(path, Path(tmp)) / 1e6, 1),
            }
            if name == "layer":
                sizes[name]["packages_unzipped_mb"] = layer_packages(path / "python")
    result = {**sizes, "limit_unzipped_mb": 262.1}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bundle.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
