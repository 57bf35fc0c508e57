"""Lazy re-exports for a package's ``__init__`` (PEP 562): its public names found in its modules on first use.

A package's map re-exports its public names; importing every module with it would load what only some of
its users need (scikit-learn and scipy, ~1 s of a function's cold start). `lazy_exports` gives the package
the module-level ``__getattr__`` and ``__dir__`` that import a name's module only when the name is asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any


def lazy_exports(
    package: str, modules: Sequence[str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for `package`: each of `names` looked for in `modules` in order (light
    ones first, so a name of a light module never loads a heavy one), and kept once found."""

    def find(name: str) -> Any:
        if name in names:
            for module in modules:
                value = getattr(importlib.import_module(f".{module}", package), name, None)
                if value is not None:
                    setattr(sys.modules[package], name, value)  # found once; later lookups do not come here
                    return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def listed() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return find, listed
