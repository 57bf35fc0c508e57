"""The `mlops.toml` that `mlops init` writes from an Inference (mlopsctl/infer.py): the label and the features
it found, each with why, and every other setting at its default as a comment line with what it does.

The defaults are read from the config the written settings load into (parse_config), so a comment shows
the value the file really has; uncommenting a line changes nothing until its value is edited.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from typing import Any

from mlops_core.config import ProjectConfig, ScoringSettings, parse_config

from .infer import BLANK_WARNING, Column, Inference, Label

# Why init sets unknown = "score" on every category it lists: the list comes from the rows it read (perhaps a
# sample), so a rare value it missed must not make training or scoring refuse rows; scored, it is still counted
# and named in the batch's drift report.
UNKNOWN_WHY = "a category not listed above: the row is scored, and the value counted in the drift report"

# Every optional setting, in the file's order: (section, setting, what it does, an example when its default
# is none). docs/configuration.md, "Defaults", has the same list.
SETTINGS: tuple[tuple[str, str, str, Any], ...] = (
    ("project", "name", "names the stack, buckets and alarms (MlopsStack-<name>)", None),
    ("model", "estimator", "by task and features; or [[model.candidates]] to search, or pipeline", None),
    ("model", "params", "the estimator's parameters", None),
    ("model", "seed", "seeds the holdout split, the search's folds, the default estimator", None),
    ("model", "holdout_share", "rows kept out of training to judge the model", None),
    ("model", "cv_folds", "model search: k-fold cross-validation", None),
    ("model", "search", "model search: grid, or random (n_iter points per candidate)", None),
    ("model", "n_iter", "random search: points drawn per candidate", None),
    ("model", "max_fits", "the bound on a search's cross-validation fits", None),
    ("model", "pipeline", "default: none; your own code builds the whole model", "pipelines.mine:build"),
    ("training", "window_files", "the most recent N labeled files under training/ (and feedback/)", None),
    ("training", "min_rows", "a run with fewer usable rows fails", None),
    ("training", "max_bad_row_share", "a run fails when a file skips more than this share of rows", None),
    ("training", "max_feedback_share", "feedback rows are at most this share of a run's rows", None),
    ("training", "max_file_share", "one uploaded file's rows at most this share", None),
    ("training", "max_missing_share", "an imputed feature blank in more of the rows fails the run, named", None),
    ("scoring", "chunk_rows", "rows scored at a time", None),
    ("scoring", "max_file_bytes", "a larger file is rejected with a report (500 MB)", None),
    ("scoring", "max_field_chars", "the longest cell; longer is a bad row", None),
    ("scoring", "max_bad_row_share", "above this share of bad rows the whole file is rejected", None),
    ("scoring", "byte_range_bytes", "a larger file is split into byte ranges scored in parallel (64 MB)", None),
    ("drift", "method", "adaptive: thresholds that know the batch size; psi: the fixed ones", None),
    ("drift", "bins", "bins of a numeric feature's profile", None),
    ("drift", "min_rows", "below this no drift verdict is published", None),
    ("drift", "false_alarm_rate", "adaptive: the share of clean batches that may be called drifted", None),
    ("drift", "min_effect_psi", "adaptive: a smaller shift is never drift", None),
    ("drift", "psi_threshold", "psi method: a feature above this PSI drifted", None),
    ("drift", "prediction_psi_threshold", "psi method: the same for the predictions", None),
    ("drift", "drifted_share_threshold", "the verdict is drift when this share of features drifted", None),
    ("drift", "reference_sample_rows", "rows kept for the multivariate check; 0 turns it off", None),
    ("drift", "accuracy_floor", "alarm when a labeled batch's accuracy is below this", None),
    ("drift", "estimated_accuracy_floor", "alarm when the label-free accuracy estimate is below this", None),
    ("drift", "alarm_after", "M drifted batches within the last N periods raise an alarm", None),
    ("promotion", "metric", "the holdout metric a candidate is judged on (default by task)", None),
    ("promotion", "floor", "the candidate must reach at least this", None),
    ("promotion", "tolerance", "and the champion's score less this", None),
    ("promotion", "reference_floor", "default: floor; the same on the reference holdout", None),
    ("promotion", "reference_tolerance", "default: 5 x tolerance; the same on the reference holdout", None),
    ("promotion", "approval", "auto: a candidate that passes is promoted; manual: waits for mlops approve", None),
    ("promotion", "pending_ttl_days", "manual: a candidate not approved within this many days expires", None),
    ("promotion", "challenger", "off; shadow or split: a passing candidate scores beside the champion", None),
    ("promotion", "challenger_share", "split: the share of rows the challenger scores", None),
    ("promotion", "challenger_id_column", "split: the column whose hash assigns a row to a model", "customer_id"),
    ("promotion", "challenger_confidence", "the challenger rule's one-sided confidence", None),
    ("promotion", "challenger_min_rows", "labeled rows per model before the rule decides", None),
    ("promotion", "challenger_max_rows", "labeled rows per model after which no difference retires it", None),
    ("retraining", "cooldown_seconds", "the least time between two runs an alarm starts", None),
    ("retraining", "max_runtime_seconds", "a run's time limit", None),
    ("retraining", "lock_ttl_seconds", "the run lock: max_runtime_seconds + 600 (it must outlive a job)", None),
    ("retraining", "schedule", "default: none; also retrain on a schedule (rate or cron)", "rate(7 days)"),
    ("retraining", "on_stale", "the champion-age alarm also starts retraining", None),
    ("queue", "max_receive_count", "receives of a scoring message before it is dead-lettered", None),
    ("monitoring", "max_model_age_days", "default: none (off); alarm when the champion is older", 30),
    ("monitoring", "max_silence_hours", "default: none (off); alarm when nothing was scored this long", 24),
)

# The settings whose default is another setting's value: shown at that value.
DERIVED: dict[str, Callable[[ProjectConfig], Any]] = {
    "reference_floor": lambda config: config.promotion.floor,
    "reference_tolerance": lambda config: round(5 * config.promotion.tolerance, 6),
}


def toml_value(value: Any) -> str:
    """`value` as TOML: strings quoted (JSON's escapes are TOML's), lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return json.dumps(str(value), ensure_ascii=False)


def _label_value(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def label_lines(label: Label) -> list[str]:
    """[label]: the column, the task and why, the classes and the positive class found."""
    lines = ["[label]", f"column = {toml_value(label.name)}", f"task = {toml_value(label.task)}  # {label.reason}"]
    if label.classes:
        classes = [_label_value(c) for c in label.classes]
        lines.append(f"classes = {toml_value(classes)}  # another value in training is a bad label")
    if label.positive is not None:
        lines.append(f"positive_class = {toml_value(_label_value(label.positive))}")
    return lines


def feature_lines(column: Column) -> list[str]:
    """One [[features]] table: the name, the type and why, categories, and the missing/unknown policies."""
    kind = f"type = {toml_value(column.kind)}  # {column.reason}"
    lines = ["[[features]]", f"name = {toml_value(column.name)}", kind]
    if column.kind == "categorical":
        lines.append(f"categories = {toml_value(list(column.categories))}")
        lines.append(f'unknown = "score"  # {UNKNOWN_WHY}')
    if column.blank_share > 0:
        high = column.blank_share > BLANK_WARNING
        more = f"; over {BLANK_WARNING:.0%}: check that the column is filled in upstream" if high else ""
        lines.append(f'missing = "impute"  # {column.blank_share:.1%} of the sampled cells are blank{more}')
    return lines


def field_chars(inference: Inference) -> int | None:
    """scoring.max_field_chars when a text in the sample is longer than the default allows (twice its longest)."""
    longest = max((c.longest for c in inference.features), default=0)
    if longest <= ScoringSettings.max_field_chars:
        return None
    return math.ceil(2 * longest / 1000) * 1000


def overrides(inference: Inference) -> dict[str, dict[str, str]]:
    """Settings outside [label] and [[features]] that the data decides: section -> setting -> its line."""
    out: dict[str, dict[str, str]] = {}
    if inference.label.max_error is not None:
        out["drift"] = {
            "max_error": f"max_error = {toml_value(inference.label.max_error)}  # the mean absolute error of always "
            "predicting the median label: a model no better raises the alarm (lower it to your model's holdout "
            "error x 1.5 once you know it)"
        }
    if (chars := field_chars(inference)) is not None:
        out["scoring"] = {"max_field_chars": f"max_field_chars = {chars}  # twice the longest text in the sample"}
    return out


def render(inference: Inference, *, name: str | None = None) -> str:
    """The whole file: what was found (and the project's `name`, if given), set; every other setting at its
    default, commented."""
    head: list[str] = [*label_lines(inference.label), ""]
    for column in inference.features:
        head += [*feature_lines(column), ""]
    found = overrides(inference)
    if name is not None:
        found = {"project": {"name": f"name = {toml_value(name)}"}, **found}
    sections = "".join(f"[{s}]\n" + "\n".join(lines.values()) + "\n" for s, lines in found.items())
    config = parse_config(tomllib.loads("\n".join(head) + "\n" + sections))
    project, *rest = dict.fromkeys(s for s, *_ in SETTINGS)
    return "\n".join([*preamble(inference), *defaults(config, found, [project]), *head, *defaults(config, found, rest)])


def preamble(inference: Inference) -> list[str]:
    """What the file was written from, and the columns left out with why."""
    read = f"{inference.rows:,} rows" + (" (a sample: the head of the file)" if inference.sampled else "")
    lines = [
        f"# Written by `mlops init` from {inference.path.name} ({read}). Only [label] and [[features]] are",
        "# required; every other setting is shown at its default, commented out (docs/configuration.md, Defaults).",
    ]
    left = [c for c in inference.columns if not c.is_feature]
    if left:
        lines.append("# Left out (an id or any other column passes through to the predictions unchanged):")
        lines += [f"#   {c.name}: {c.reason}" for c in left]
    return [*lines, ""]


def defaults(config: ProjectConfig, found: dict[str, dict[str, str]], sections: list[str]) -> list[str]:
    """Each section of SETTINGS: the settings the data decided, then every other one as
    `# setting = default  # what it does` (a setting whose default is none shows an example)."""
    lines: list[str] = []
    for section in sections:
        lines += [f"[{section}]", *found.get(section, {}).values()]
        for _, setting, what, example in (row for row in SETTINGS if row[0] == section):
            value = setting_value(config, section, setting)
            shown = DERIVED[setting](config) if setting in DERIVED else example
            if setting in found.get(section, {}) or (value is None and shown is None):
                continue
            lines.append(f"# {setting} = {toml_value(shown if value is None else value)}  # {what}")
        lines.append("")
    return lines


def setting_value(config: ProjectConfig, section: str, setting: str) -> Any:
    """A setting's value in `config` (None: not set)."""
    if section == "project":
        return getattr(config, setting)
    if section == "queue":
        return config.max_receive_count
    return getattr(getattr(config, section), setting)
