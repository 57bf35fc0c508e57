"""Where things live in the buckets: the one place an S3 key is built or parsed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

# Data bucket
INCOMING = "incoming/"
PREDICTIONS = "predictions/"
REJECTED = "rejected/"
TRAINING = "training/"
FEEDBACK = "feedback/"  # labeled batches seen by scoring, kept for retraining
HOLDOUT = "holdout/"  # the reference holdout: labeled rows only the operator writes, never trained on
REPORTS = "reports/"
DRIFT_REPORTS = f"{REPORTS}drift/"
RECEIPTS = f"{REPORTS}receipts/"
HTML_REPORTS = f"{REPORTS}html/"
SHADOW = "shadow/"  # a shadow challenger's predictions: never served, kept to compare
CHALLENGER_EVIDENCE = f"{REPORTS}challenger/"  # per challenger version, one object per scored job
# The online endpoint's traffic (lambdas/online), per monitoring window: one object per request to /predict
# (what it sent, what it was answered) and per request to /feedback (ids and labels); each window then becomes
# a batch under incoming/online/ and a report under reports/online/ (lambdas/online_monitor).
ONLINE = "online/"
ONLINE_REQUESTS = f"{ONLINE}requests/"
ONLINE_LABELS = f"{ONLINE}labels/"
ONLINE_BATCHES = f"{INCOMING}online/"
ONLINE_REPORTS = f"{REPORTS}online/"

# Models bucket
# What a training run reads: the versions it read stay (the data bucket never expires their noncurrent versions),
# so every registered model can be trained again (`mlops reproduce`).
TRAINING_INPUTS = (TRAINING, FEEDBACK, HOLDOUT)
# The data bucket's other prefixes: a replaced or deleted object there is recoverable for a while, then expires.
SCRATCH = (INCOMING, PREDICTIONS, REJECTED, REPORTS, SHADOW, ONLINE)

MODELS = "models/"  # models/<version>/model.joblib and models/<version>/manifest.json
REGISTRY = "registry/"
CHAMPION_KEY = "registry/champion.json"
CHALLENGER_KEY = "registry/challenger.json"  # the challenger now (or the last one, closed)
HISTORY = "registry/history/"  # one object per decision, never rewritten
RUNS = "registry/runs/"  # one object per training run
PENDING = "registry/pending/"  # one object per candidate held for manual approval
LOCK_KEY = "registry/training.lock"
TRACKING_LOCK_KEY = "registry/tracking.lock"  # one `mlops mlflow sync` at a time (CLI only)
SAGEMAKER_OUTPUT = "sagemaker-output/"  # where SageMaker uploads a training job's own output (AWS only)

CSV_SUFFIXES = (".csv.gz", ".csv")  # what scoring reads, in any case (.CSV is a CSV)
# What the data bucket's notification sends to scoring. S3's suffix filters are case-sensitive, and each case
# variant takes a filter of its own: lower and upper case are sent, other mixtures (.Csv) never are, and
# `mlops audit` lists them (`why_not_scored`).
NOTIFIED_SUFFIXES = (".csv", ".CSV", ".csv.gz", ".CSV.GZ")
_PART = re.compile(r"\.part-(\d{4})-of-(\d{4})$")

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
# What an output key adds to its input's name, at most: reports/challenger/<model version>/<name>/<ETag><part
# suffix>.json, with a model version of up to 64 bytes (the registry's are 24), an ETag of up to 44 (a multipart
# upload's) and a part suffix of 18.
OUTPUT_KEY_ROOM = 200
MAX_NAME_BYTES = MAX_KEY_BYTES - OUTPUT_KEY_ROOM
_HASH_CHARS = 16  # hex digits of a key's SHA-256 in a shortened name


def input_name(key: str) -> str:
    """An incoming key's name without the prefix and the CSV extension: incoming/a/b.csv.gz -> a/b."""
    name = key.removeprefix(INCOMING)
    return name[: len(name) - len(csv_suffix(name))]


def csv_suffix(key: str) -> str:
    """The key's CSV extension as written (.csv, .CSV.GZ, ...), or "" if it has none."""
    return next((key[-len(suffix) :] for suffix in CSV_SUFFIXES if key.lower().endswith(suffix)), "")


def is_gzipped(key: str) -> bool:
    return key.lower().endswith(".gz")


def why_not_scored(key: str) -> str | None:
    """Why an object under incoming/ never reaches scoring (its extension), or None if it does."""
    if key.endswith(NOTIFIED_SUFFIXES):
        return None
    if csv_suffix(key):
        return f"the extension {csv_suffix(key)} mixes cases: only {', '.join(NOTIFIED_SUFFIXES)} are sent to scoring"
    return "not a .csv or .csv.gz file"


def name_fits(key: str) -> bool:
    """Whether every output key of an incoming key fits S3's limit when filed under the key's own name."""
    return len(input_name(key).encode()) <= MAX_NAME_BYTES


def output_name(key: str) -> str:
    """The name an input's outputs (receipt, predictions, reports) are filed under: `input_name(key)`, or for a
    key whose outputs would not fit S3's limit, its first bytes, "~" and 16 hex digits of the key's SHA-256
    (unique, and the same for every output of the key)."""
    name = input_name(key)
    return name if name_fits(key) else f"{_cut(name, MAX_NAME_BYTES - _HASH_CHARS - 1)}~{_digest(key)}"


def _cut(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` bytes of UTF-8, on a character boundary."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:_HASH_CHARS]


def incoming_key(name: str) -> str:
    """Where a file to score is put: incoming/<name> (name with its .csv or .csv.gz extension)."""
    return f"{INCOMING}{name}"


def training_key(name: str) -> str:
    """Where a labeled training file is put: training/<name>."""
    return f"{TRAINING}{name}"


def holdout_key(name: str) -> str:
    """Where a reference holdout file is put: holdout/<name>."""
    return f"{HOLDOUT}{name}"


def part_suffix(part: int, parts: int) -> str:
    """What names the outputs of one byte range of a large file ("" for a whole file)."""
    return "" if parts == 1 else f".part-{part + 1:04d}-of-{parts:04d}"


def suffix_of_output(key: str) -> str:
    """The byte-range suffix of an output key built by `InputOutputs` ("" for a whole file's output)."""
    stem = key.rsplit("/", 1)[-1].removesuffix(".csv").removesuffix(".json")
    match = _PART.search(stem)
    return match.group(0) if match else ""


def receipt_key(key: str, etag: str, part_suffix: str = "") -> str:
    """Where scoring records what became of an input object (or one byte range of it)."""
    return f"{receipts_prefix(key)}{etag}{part_suffix}.json"


def receipts_prefix(key: str) -> str:
    """What every receipt of an input key starts with (one per ETag and byte range); another input's receipts
    can lie one level further down (incoming/x/y.csv's under incoming/x.csv's)."""
    return f"{RECEIPTS}{output_name(key)}/"


@dataclass(frozen=True)
class InputOutputs:
    """Every key scoring writes for one input object (or one byte range of it)."""

    key: str
    etag: str
    part: int = 0
    parts: int = 1

    @property
    def name(self) -> str:
        return output_name(self.key)

    @property
    def suffix(self) -> str:
        return part_suffix(self.part, self.parts)

    @property
    def receipt(self) -> str:
        return receipt_key(self.key, self.etag, self.suffix)

    def predictions(self, version: str) -> str:
        return f"{self.predictions_prefix}{version}{self.suffix}.csv"

    @property
    def predictions_prefix(self) -> str:
        """What every model version's predictions of this input start with."""
        return f"{PREDICTIONS}{self.name}/{self.etag}-"

    def shadow(self, version: str) -> str:
        """A shadow challenger's predictions of this input."""
        return f"{self.shadow_prefix}{version}{self.suffix}.csv"

    @property
    def shadow_prefix(self) -> str:
        return f"{SHADOW}{self.name}/{self.etag}-"

    def is_predictions(self, key: str) -> bool:
        """Whether `key` is this input's (and byte range's) predictions by some model version."""
        return _is_model_output(key, self.predictions_prefix, self.suffix)

    def is_shadow(self, key: str) -> bool:
        """Whether `key` is a shadow challenger's predictions of this input (and byte range)."""
        return _is_model_output(key, self.shadow_prefix, self.suffix)

    def evidence(self, version: str) -> str:
        """What this input's labeled rows say about challenger `version` against the champion."""
        return f"{evidence_prefix(version)}{self.name}/{self.etag}{self.suffix}.json"

    @property
    def feedback(self) -> str:
        return f"{FEEDBACK}{self.name}/{self.etag}{self.suffix}.csv"

    @property
    def rejected(self) -> str:
        """The folder of a rejection: a copy of the file (or the bad rows) and report.json."""
        return f"{REJECTED}{self.name}/{self.etag}{self.suffix}/"

    @property
    def rejection_report(self) -> str:
        return f"{self.rejected}report.json"

    @property
    def bad_rows(self) -> str:
        """The bad rows of a partly scored file."""
        return f"{self.rejected}bad_rows.csv"

    @property
    def rejected_copy(self) -> str:
        """The copy of a rejected whole file, under its own file name (one too long for S3's limit: the key's
        SHA-256, 16 hex digits, and its extension)."""
        copy = f"{self.rejected}{self.key.rsplit('/', 1)[-1]}"
        return (
            copy if len(copy.encode()) <= MAX_KEY_BYTES else f"{self.rejected}{_digest(self.key)}{csv_suffix(self.key)}"
        )

    @property
    def drift_report(self) -> str:
        return f"{DRIFT_REPORTS}{self.name}/{self.etag}{self.suffix}.json"


def _is_model_output(key: str, prefix: str, suffix: str) -> bool:
    """`key` is `prefix` + a model version + `suffix` + ".csv". Another input's outputs can share the prefix:
    incoming/x/<etag of x.csv>-y.csv is named x/<etag>-y, so its outputs lie under x.csv's prefix, one level down."""
    if not (key.startswith(prefix) and key.endswith(".csv")):
        return False
    return "/" not in key[len(prefix) :] and suffix_of_output(key) == suffix


def evidence_prefix(version: str) -> str:
    """Where the evidence about challenger `version` is kept, one object per scored job."""
    return f"{CHALLENGER_EVIDENCE}{version}/"


def model_prefix(version: str) -> str:
    return f"{MODELS}{version}/"


def artifact_key(version: str) -> str:
    return f"{model_prefix(version)}model.joblib"


def manifest_key(version: str) -> str:
    return f"{model_prefix(version)}manifest.json"


def run_key(run_id: str) -> str:
    return f"{RUNS}{run_id}.json"


def pending_key(version: str) -> str:
    """A candidate held for manual approval: its decision, evidence and state."""
    return f"{PENDING}{version}.json"


def history_key(at: datetime, kind: str, version: str) -> str:
    """One decision's object: sortable by time, never rewritten."""
    return f"{HISTORY}{at:%Y%m%dT%H%M%S%fZ}-{kind}-{version}.json"


def is_history_of(key: str, version: str) -> bool:
    """Whether a history object's key (`history_key`) names a decision about `version` (its record says for sure:
    a kind and a version can both hold hyphens)."""
    return key.startswith(HISTORY) and key.endswith(f"-{version}.json")


def html_report_prefix(at: datetime) -> str:
    return f"{HTML_REPORTS}{at:%Y%m%dT%H%M%SZ}/"


def window_name(start: datetime) -> str:
    """A monitoring window's name: its start in UTC, sortable (20261206T1530Z)."""
    return f"{start:%Y%m%dT%H%MZ}"


def online_request_key(window: str, request_id: str) -> str:
    return f"{ONLINE_REQUESTS}{window}/{request_id}.json"


def online_labels_key(window: str, request_id: str) -> str:
    return f"{ONLINE_LABELS}{window}/{request_id}.json"


def online_batch_key(window: str, *, labeled: bool) -> str:
    """The batch a window's captured traffic (or, `labeled`, its labels joined to their records) becomes."""
    return f"{ONLINE_BATCHES}{window}{'-labeled' if labeled else ''}.csv"


def online_report_key(window: str) -> str:
    """What became of a window: its requests, the batches written, labels that matched no record."""
    return f"{ONLINE_REPORTS}{window}.json"
