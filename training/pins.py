"""The training image's libraries against the Lambda layer's pins: a model trained in the image must load in
scoring, so every `name==version` of the requirements files must be the version installed.

training/Dockerfile runs `python training/pins.py requirements.txt ...` right after pip, before the rest of the
code is copied (so this module is standard library only): any mismatch fails the build, each one named.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from importlib import metadata

# name, optional [extras], ==version; an environment marker or a comment may follow.
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def pins(requirements_text: str) -> dict[str, str]:
    """Each `name==version` line of a requirements file; other lines (comments, ranges, options) are not pins."""
    return {m[1]: m[2] for line in requirements_text.splitlines() if (m := _PIN.match(line))}


def mismatched_pins(requirements_text: str, installed_version: Callable[[str], str | None]) -> list[str]:
    """One line per pin whose installed version differs or that is not installed (`installed_version` gives
    None), in the file's order; [] when all match. Versions compare as written: pip spells the installed
    version as the index does, and a pin written otherwise (1.0 for 1.0.0) is better fixed than guessed."""
    mismatches = []
    for name, pinned in pins(requirements_text).items():
        installed = installed_version(name)
        if installed is None:
            mismatches.append(f"{name}: pinned {pinned}, not installed")
        elif installed != pinned:
            mismatches.append(f"{name}: pinned {pinned}, installed {installed}")
    return mismatches


def installed_version(name: str) -> str | None:
    """The version of the distribution `name` in this interpreter, None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(paths: list[str]) -> int:
    """Check each requirements file; 0 if every pin matches, 1 (with the mismatches on stderr) if not."""
    if not paths:
        print("usage: python training/pins.py REQUIREMENTS_FILE...", file=sys.stderr)
        return 2
    mismatches, checked = [], 0
    for path in paths:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        checked += len(pins(text))
        mismatches += [f"{path}: {line}" for line in mismatched_pins(text, installed_version)]
    for line in mismatches:
        print(f"pin mismatch: {line}", file=sys.stderr)
    if not mismatches:
        print(f"pins: the {checked} pinned versions are installed")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
