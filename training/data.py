"""The labeled data a training run learns from: listed, streamed through the shared CSV reader, counted.

The most recent `training.window_files` labeled CSVs under training/, and as many under feedback/
(the labeled batches that scoring kept), with feedback bounded as training/sources.py says; and the
reference holdout under holdout/, read the same way but never trained on. Each file streams through
the same CSV reader as scoring, with the
same guards (size limit, gzip bombs, line length, UTF-8, binary files), by mlops_core/data/labeled.py
(which `mlops register` reads its reference file with): a file the reader rejects is reported in the
manifest's `data` and the run goes on with the other files.

No row is dropped without a word: each file's entry counts the rows used and the rows skipped per
reason (a bad feature, a bad label with its values listed, a missing label), and a file that skips
more than `training.max_bad_row_share` of its rows fails the run with those counts.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from mlops_core.config import Feature, ProjectConfig
from mlops_core.config.task import Task
from mlops_core.data.cells import with_found_categories
from mlops_core.data.labeled import FileRows, MissingColumns, stream_rows, too_many_skipped
from mlops_core.data.reader import FileRejected, too_large
from mlops_core.monitoring.quality import blank_mask
from mlops_core.storage import layout

from .sources import feedback_allowance


class TrainingDataError(ValueError):
    """The labeled data is missing or unusable; the message says what to fix."""


@dataclass
class LabeledData:
    columns: dict[str, np.ndarray]
    labels: np.ndarray  # class names (canonical text) or numbers (regression)
    files: list[dict[str, Any]]
    recency: np.ndarray  # index of the file each row came from, 0 = newest
    task: Task = field(default_factory=Task)  # the configured task with its classes fixed (found in the data)
    # The configured features, categorical ones without categories given those found in the data.
    features: tuple[Feature, ...] = ()
    curated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per row: from training/

    def rows_by_source(self) -> dict[str, int]:
        """How many of the run's rows came from training/ and from feedback/ (the run record shows it)."""
        curated = int(self.curated.sum())
        return {"training": curated, "feedback": len(self.labels) - curated}


def list_labeled_files(s3: Any, bucket: str, prefix: str, window: int) -> list[dict[str, Any]]:
    """The newest `window` labeled CSV objects under `prefix`, newest first."""
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects += [o for o in page.get("Contents", []) if o["Key"].endswith(layout.CSV_SUFFIXES)]
    return sorted(objects, key=_recency, reverse=True)[:window]


def _recency(o: dict[str, Any]) -> tuple:
    # S3 times have one-second resolution; within a tie, feedback (what scoring saw in production)
    # counts as newer than files an operator placed under training/.
    return (o["LastModified"], o["Key"].startswith(layout.FEEDBACK), o["Key"])


def read_labeled_data(
    s3: Any, bucket: str, config: ProjectConfig, *, pinned: list[dict[str, Any]] | None = None
) -> LabeledData:
    """Read and validate the window's files: every row is used, counted as skipped with its reason, or
    counted as capped (feedback beyond its bounds); files the CSV reader rejects are reported in `files`
    and left out; the classes are fixed. `pinned`: exactly these objects (`pinned_objects`), not the window."""
    if pinned is None:
        window = config.training.window_files
        curated, feedback = (
            list_labeled_files(s3, bucket, prefix, window) for prefix in (layout.TRAINING, layout.FEEDBACK)
        )
        objects = sorted(curated + feedback, key=_recency, reverse=True)
    else:
        objects = pinned
    if not objects:
        raise TrainingDataError(f"no labeled CSV under s3://{bucket}/{layout.TRAINING} or {layout.FEEDBACK}")
    read = [read_labeled_file(s3, bucket=bucket, obj=obj, config=config) for obj in objects]
    per_file, files = [rows for _, rows in read], [entry for entry, _ in read]
    for rows, entry in zip(per_file, files, strict=True):
        _check_skipped(rows, entry["key"], config.training.max_bad_row_share)
    _cap_feedback(per_file, files, config)
    return _checked(per_file, files, config)


def read_reference_holdout(
    s3: Any, bucket: str, config: ProjectConfig, *, pinned: list[dict[str, Any]] | None = None
) -> LabeledData | None:
    """The reference holdout: the newest `training.window_files` labeled CSVs under holdout/, which only the
    operator writes (or the `pinned` objects); None when there are none. Read like training files, every row
    used or counted."""
    objects = list_labeled_files(s3, bucket, layout.HOLDOUT, config.training.window_files) if pinned is None else pinned
    if not objects:
        return None
    read = [read_labeled_file(s3, bucket=bucket, obj=obj, config=config) for obj in objects]
    per_file, files = [rows for _, rows in read], [{**entry, "source": "holdout"} for entry, _ in read]
    for rows, entry in zip(per_file, files, strict=True):
        _check_skipped(rows, entry["key"], config.training.max_bad_row_share)
    if sum(rows.rows for rows in per_file) == 0:
        raise TrainingDataError(f"the reference holdout under {layout.HOLDOUT} has no usable labeled row")
    return _combine(per_file, files, config.feature_names)


class DataVersionGone(TrainingDataError):
    """A recorded object version no longer exists (expired or deleted): the run cannot be repeated."""


def pinned_objects(s3: Any, bucket: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects a manifest's `data` entries name, each at its recorded version, in the recorded order.

    Raises DataVersionGone naming the first key and version that is gone."""
    objects = []
    for entry in entries:
        key, version = entry["key"], entry["version_id"]
        try:
            head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchVersion", "NoSuchKey", "400"):
                raise
            raise DataVersionGone(
                f"s3://{bucket}/{key} version {version} is gone (expired or deleted): the run read it"
            ) from exc
        objects.append({"Key": key, "ETag": head["ETag"], "Size": head["ContentLength"], "VersionId": version})
    return objects


def _cap_feedback(per_file: list[FileRows], files: list[dict[str, Any]], config: ProjectConfig) -> None:
    """Bound feedback's share of the run and each uploaded file's (training/sources.py): a file over its
    allowance keeps a seeded sample of its rows, and its entry counts the rest as `capped_rows`."""
    for entry in files:
        entry["source"] = "feedback" if entry["key"].startswith(layout.FEEDBACK) else "training"
    feedback = [i for i, entry in enumerate(files) if entry["source"] == "feedback"]
    curated_rows = sum(per_file[i].rows for i, entry in enumerate(files) if entry["source"] == "training")
    settings = config.training
    allowed = feedback_allowance(
        curated_rows,
        [per_file[i].rows for i in feedback],
        max_feedback_share=settings.max_feedback_share,
        max_file_share=settings.max_file_share,
    )
    rng = np.random.default_rng(config.model.seed)
    for i, keep in zip(feedback, allowed, strict=True):
        if keep < per_file[i].rows:
            files[i]["capped_rows"] = per_file[i].rows - keep
            files[i]["rows"] = keep
            per_file[i] = _sample(per_file[i], keep, rng)


def read_labeled_file(
    s3: Any, *, bucket: str, obj: dict[str, Any], config: ProjectConfig
) -> tuple[dict[str, Any], FileRows]:
    """One object's labeled rows and its entry in the manifest; a rejected file has no rows."""
    entry = {"key": obj["Key"], "etag": obj["ETag"].strip('"')}
    rows = FileRows()
    try:
        sha256, version_id = _stream_rows(s3, bucket=bucket, obj=obj, config=config, into=rows)
    except FileRejected as rejected:
        problem = {"kind": rejected.kind, "error": str(rejected), "fix": rejected.fix, **rejected.where}
        # Rows read before the rejection are dropped with the file (and counted, not as used).
        return {**entry, "rejected": problem, "rows": 0, "skipped_rows": rows.rows + rows.skipped_rows}, FileRows()
    return {**entry, "sha256": sha256, "version_id": version_id, **rows.accounting()}, rows


def _stream_rows(
    s3: Any, *, bucket: str, obj: dict[str, Any], config: ProjectConfig, into: FileRows
) -> tuple[str, str | None]:
    """Stream one object (at `obj["VersionId"]`, if given) through the shared CSV reader, chunk by chunk, into
    `into`; its SHA-256 and the version read (None in a bucket without versioning)."""
    key, limits = obj["Key"], config.scoring
    if obj["Size"] > limits.max_file_bytes:  # no need to download it to know
        raise too_large(obj["Size"], limits.max_file_bytes)
    pinned = {"VersionId": obj["VersionId"]} if obj.get("VersionId") else {}
    response = s3.get_object(Bucket=bucket, Key=key, **pinned)
    with closing(response["Body"]) as body:
        try:
            sha256 = stream_rows(body, key=key, config=config, into=into)
        except MissingColumns as exc:
            raise TrainingDataError(str(exc)) from exc
    return sha256, response.get("VersionId")


def _sample(rows: FileRows, keep: int, rng: np.random.Generator) -> FileRows:
    """`keep` of a file's rows, drawn without replacement (seeded), in file order."""
    columns = {name: np.concatenate([c[name] for c in rows.columns]) for name in rows.columns[0]}
    labels = np.concatenate(rows.labels)
    chosen = np.sort(rng.choice(len(labels), size=keep, replace=False))
    return FileRows(columns=[{k: v[chosen] for k, v in columns.items()}], labels=[labels[chosen]], rows=keep)


def _checked(per_file: list[FileRows], files: list[dict[str, Any]], config: ProjectConfig) -> LabeledData:
    """The combined rows, if there are enough of them and rows of every class."""
    total = sum(rows.rows for rows in per_file)
    if total < config.training.min_rows:
        raise TrainingDataError(
            f"{total} labeled rows; training needs at least {config.training.min_rows}{_rejections(files)}"
            f"{_capped(files)}"
        )
    data = _combine(per_file, files, config.feature_names)
    _check_blank_shares(data, config)
    try:
        data.features = with_found_categories(config.features, data.columns)
    except ValueError as exc:
        raise TrainingDataError(f"{exc}{_rejections(files)}") from exc
    try:
        data.task = config.task.with_classes(np.unique(data.labels).tolist() if config.task.is_classification else [])
    except ValueError as exc:
        raise TrainingDataError(f"{exc}{_rejections(files)}") from exc
    _check_every_class(data)
    return data


def _check_skipped(rows: FileRows, key: str, share: float) -> None:
    """Fail the run when a file skipped more than `share` of its rows: that many is a problem to fix, not noise."""
    problem = too_many_skipped(rows, key, share)
    if problem:
        raise TrainingDataError(problem)


def _check_blank_shares(data: LabeledData, config: ProjectConfig) -> None:
    """A feature with missing = "impute" needs values to learn from: one blank in every row gives the imputer
    no median (scikit-learn drops such a column), and one blank in more than training.max_missing_share of
    its rows is more likely a broken export than a gap to fill."""
    bound = config.training.max_missing_share
    for feature in config.features:
        if not feature.imputes:
            continue
        values = data.columns[feature.name]
        share = float(blank_mask(values, feature.type).mean()) if len(values) else 0.0
        if share == 1:
            problem = "is blank in every training row: fill it in, or remove it from [[features]]"
        elif share > bound:
            problem = (
                f"is blank in {share:.0%} of the training rows, above training.max_missing_share ({bound:.0%}): "
                "fill it in upstream, raise the bound, or remove it from [[features]]"
            )
        else:
            continue
        raise TrainingDataError(f"feature {feature.name!r} {problem}{_rejections(data.files)}")


def _check_every_class(data: LabeledData) -> None:
    """Every class of a classification task needs training rows: a model cannot predict a class it never saw."""
    if not data.task.is_classification:
        return
    found = set(np.unique(data.labels).tolist())
    absent = [c for c in data.task.classes if c not in found]
    if absent:
        raise TrainingDataError(
            f"class(es) {', '.join(map(repr, absent))} have no labeled rows; training needs rows of every class "
            f"({', '.join(data.task.classes)}){_rejections(data.files)}"
        )


def _combine(per_file: list[FileRows], files: list[dict[str, Any]], names: list[str]) -> LabeledData:
    """All files' rows as one set of columns, with the index of each row's file (0 = newest) and whether it
    came from training/."""
    parts = [(i, c, y) for i, rows in enumerate(per_file) for c, y in zip(rows.columns, rows.labels, strict=True)]
    recency = np.concatenate([np.full(len(labels), index) for index, _, labels in parts])
    from_training = np.asarray([entry.get("source") == "training" for entry in files], dtype=bool)
    return LabeledData(
        columns={name: np.concatenate([columns[name] for _, columns, _ in parts]) for name in names},
        labels=np.concatenate([labels for _, _, labels in parts]),
        files=files,
        recency=recency,
        curated=from_training[recency],
    )


def _capped(files: list[dict[str, Any]]) -> str:
    """What a data error message adds about feedback rows left out by its bounds ("" when none was)."""
    capped = sum(f.get("capped_rows", 0) for f in files)
    if not capped:
        return ""
    return (
        f"; {capped} feedback row(s) left out by training.max_feedback_share / max_file_share: add curated data "
        f"under {layout.TRAINING} (feedback may only be a share of it)"
    )


def _rejections(files: list[dict[str, Any]], shown: int = 5) -> str:
    """What a data error message adds about rejected files ("" when none was)."""
    rejected = [f"{f['key']} ({f['rejected']['kind']}: {f['rejected']['error']})" for f in files if "rejected" in f]
    if not rejected:
        return ""
    more = f"; and {len(rejected) - shown} more" if len(rejected) > shown else ""
    return f"; {len(rejected)} of {len(files)} file(s) rejected: {'; '.join(rejected[:shown])}{more}"
