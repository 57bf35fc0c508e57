"""Hooks for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run last (a stable sort keeps each part's order), so a plain `pytest` never runs the
    unit and template tests beside a local AWS that the e2e session started and its stacks' alarms."""
    items.sort(key=lambda item: item.path.is_relative_to(E2E))
