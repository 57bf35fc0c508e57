"""The training image's pin check (training/pins.py): every `name==version` of a requirements file against what
is installed, each mismatch named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from training.pins import mismatched_pins, pins

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = """\
# a comment
numpy==2.5.5
pandas[performance] == 3.1.1 ; python_version >= "3.12"  # extras, a marker and a comment
python-dateutil==2.9.0.post0
scipy>=1.0
--index-url https://example.org/simple
"""


def test_given_a_requirements_file_then_only_its_exact_pins_are_read():
    assert pins(REQUIREMENTS) == {"numpy": "2.5.5", "pandas": "3.1.1", "python-dateutil": "2.9.0.post0"}


def test_given_every_pin_installed_at_its_version_then_nothing_mismatches():
    installed = {"numpy": "2.5.5", "pandas": "3.1.1", "python-dateutil": "2.9.0.post0", "scipy": "0.1"}

    assert mismatched_pins(REQUIREMENTS, installed.get) == []


def test_given_a_different_version_and_a_missing_package_then_each_is_named_in_file_order():
    installed = {"numpy": "2.5.4", "python-dateutil": "2.9.0.post0"}

    assert mismatched_pins(REQUIREMENTS, installed.get) == [
        "numpy: pinned 2.5.5, installed 2.5.4",
        "pandas: pinned 3.1.1, not installed",
    ]


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)
    script = ROOT / "training" / "pins.py"
    return subprocess.run([sys.executable, str(script), str(requirements)], capture_output=True, text=True, check=False)


def test_given_the_script_as_the_dockerfile_runs_it_when_a_pin_differs_then_it_exits_1_naming_it(tmp_path):
    done = _check(tmp_path, "pytest==0.0.1\n")

    assert done.returncode == 1
    assert "pytest: pinned 0.0.1, installed " in done.stderr


def test_given_the_script_when_every_pin_matches_then_it_exits_0(tmp_path):
    from importlib.metadata import version

    done = _check(tmp_path, f"pytest=={version('pytest')}\n")

    assert done.returncode == 0, done.stderr
    assert "the 1 pinned versions are installed" in done.stdout
