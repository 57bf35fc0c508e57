"""Manual approval on local AWS: a project whose config is the repo's mlops.toml with its own name and
`promotion.approval = "manual"`, deployed as its own stack and driven through the `mlops --config` CLI
as an operator would: a trained candidate waits, pending, until `mlops approve`; approving it twice is
refused; rejecting another candidate lands in the history."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, deploy_own_stack, mlops

PROJECT = "approval-e2e"
# What LocalStack answers GetCallerIdentity with for the CLI's test credentials.
LOCAL_ROOT = "arn:aws:iam::000000000000:root"


@pytest.fixture(scope="module")
def manual_project(local_aws, tmp_path_factory, request) -> Path:
    """The test-owned config file, deployed once for this module."""
    text = (ROOT / "mlops.toml").read_text()
    manual = text.replace('name = "mlops"', f'name = "{PROJECT}"', 1).replace(
        "[promotion]\n", '[promotion]\napproval = "manual"\n', 1
    )
    assert f'name = "{PROJECT}"' in manual and 'approval = "manual"' in manual
    config = tmp_path_factory.mktemp("approval") / "mlops.toml"
    config.write_text(manual)
    deploy_own_stack(request, config, "e2e-approval")
    return config


def test_given_manual_approval_when_trained_then_the_candidate_waits_for_mlops_approve(manual_project):
    cli = ("--config", str(manual_project))

    def status() -> dict[str, Any]:
        shown = mlops(*cli, "status", "--json")
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)

    def held_candidate(reason: str) -> str:
        trained = mlops(*cli, "train", "--reason", reason)
        found = re.search(r"version (v\S+) passed the gate and awaits approval", trained.stdout)
        assert trained.returncode == 0 and found, trained.stdout + trained.stderr
        return found.group(1)

    assert mlops(*cli, "seed", "--rows", "3000").returncode == 0
    first = held_candidate("e2e: the first model, held")
    state = status()
    assert state["champion"] is None and [p["version"] for p in state["pending"]] == [first]
    assert state["decisions"][0]["kind"] == "pending"

    approved = mlops(*cli, "approve", first, "--note", "e2e: looked at the metrics")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"champion is now {first} (was none); approved by {LOCAL_ROOT}" in approved.stdout
    state = status()
    assert state["champion"]["version"] == first and state["pending"] == []
    decision = state["decisions"][0]
    assert (decision["kind"], decision["note"]) == ("approve", "e2e: looked at the metrics")
    assert decision["by"]["arn"] == LOCAL_ROOT and decision["by"]["account"] == "000000000000"

    again = mlops(*cli, "approve", first)
    assert again.returncode == 1 and f"error: {first} is not pending: it was approved at" in again.stderr
    assert "hint: it is in place already" in again.stderr

    second = held_candidate("e2e: a second candidate, against the champion")
    assert status()["champion"]["version"] == first
    rejected = mlops(*cli, "reject", second, "--reason", "e2e: not this week")
    assert rejected.returncode == 0 and f"{second} rejected by {LOCAL_ROOT}" in rejected.stdout, rejected.stderr
    state = status()
    assert state["champion"]["version"] == first and state["pending"] == []
    rejection = state["decisions"][0]
    assert (rejection["kind"], rejection["version"]) == ("reject-pending", second)
    assert rejection["reason"] == "e2e: not this week" and rejection["by"]["account"] == "000000000000"
