"""Run the benchmarks (`make bench`): scoring in-process always; end-to-end latency when a stack is
deployed on local AWS. Results: bench/results/*.json, and the tables printed for the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    status = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_scoring.py")], check=False).returncode
    if (ROOT / ".local-aws" / "outputs.json").exists():
        status |= subprocess.run([sys.executable, str(ROOT / "bench" / "bench_e2e.py")], check=False).returncode
    else:
        print("end-to-end latency skipped: no stack on local AWS (run `make demo` first)")
    return status


if __name__ == "__main__":
    sys.exit(main())
