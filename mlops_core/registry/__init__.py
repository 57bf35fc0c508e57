"""The model registry in S3 and every decision that moves its pointers.

The top layer: it reads the config, stores through ``storage``, and uses the data, modeling and
monitoring packages to judge and describe models. In the order a candidate travels:

- ``runs``          training runs: the lock, the cooldown, one record per run
- ``failures``      a failed run told: ``TrainingRuns`` and ``TrainingFailures``, and the alerts topic
- ``store``         ``Registry``: immutable versions (artifact SHA-256 checked), the champion and
                    challenger pointers (``ModelAlias``) moved by conditional writes, the history
- ``promotion``     the gate's rule: is the candidate at least as good as the champion
- ``gate``          the gate as a candidate goes through it (both scored on the candidate's holdout)
- ``approval``      a candidate installed, or held for a person to approve; the comparability check
- ``challenger``    champion/challenger for batches: row assignment, evidence, significance, ruling
- ``registration``  a model trained elsewhere (``mlops register``): its reference file and manifest
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what the type checker sees; at run time each name is found on first use (below)
    from .approval import (
        Held,
        PendingConflict,
        PendingRecords,
        hold_candidate,
        install_candidate,
        metrics_against,
        pending_alert,
    )
    from .challenger import (
        Evidence,
        Ruling,
        Significance,
        challenger_rows,
        comparable,
        paired_evidence,
        rule,
        significance,
        start_challenge,
        total_evidence,
        unpaired_evidence,
    )
    from .failures import FailureAlerts, TellsFailures
    from .gate import GateOutcome, ReferenceHoldout, gate_promotion
    from .promotion import Decision, decide
    from .registration import Reference, ReferenceFileError, read_reference, reference_profile, registered_manifest
    from .runs import Lock, RunLedger, new_run_id, utcnow
    from .store import (
        ArtifactIntegrityError,
        ChallengerConflict,
        ChampionConflict,
        ModelAlias,
        ModelCodeMissing,
        Registry,
        RegistryError,
        UnknownVersion,
        new_version_id,
    )

# Re-exported lazily (PEP 562): the staleness and retraining functions import only `store` and `runs`, and
# loading `gate`, `challenger` and `registration` with them would import pandas, scipy and scikit-learn in
# their cold start (measured: 0.4 s -> 2.2 s to import their handlers). A name is looked for in the modules
# in this order, light ones first, so a name of `store` or `runs` never loads the others.
_MODULES = ("store", "runs", "failures", "promotion", "approval", "challenger", "gate", "registration")
__all__ = [
    "ArtifactIntegrityError",
    "ChallengerConflict",
    "ChampionConflict",
    "Decision",
    "Evidence",
    "FailureAlerts",
    "GateOutcome",
    "Held",
    "Lock",
    "ModelAlias",
    "ModelCodeMissing",
    "PendingConflict",
    "PendingRecords",
    "Reference",
    "ReferenceFileError",
    "ReferenceHoldout",
    "Registry",
    "RegistryError",
    "Ruling",
    "RunLedger",
    "Significance",
    "TellsFailures",
    "UnknownVersion",
    "challenger_rows",
    "comparable",
    "decide",
    "gate_promotion",
    "hold_candidate",
    "install_candidate",
    "metrics_against",
    "new_run_id",
    "new_version_id",
    "paired_evidence",
    "pending_alert",
    "read_reference",
    "reference_profile",
    "registered_manifest",
    "rule",
    "significance",
    "start_challenge",
    "total_evidence",
    "unpaired_evidence",
    "utcnow",
]


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, __all__)
