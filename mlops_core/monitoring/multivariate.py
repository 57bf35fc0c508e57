"""Multivariate drift: a domain classifier that tries to tell reference rows from batch rows.

Per-feature PSI compares marginals only; a change in the joint distribution (two features whose
correlation reversed while each marginal stayed the same) passes it unseen. A classifier trained to
separate a sample of the training data from a sample of the batch catches any such change: if it
separates them better than chance (out-of-fold ROC AUC above what a clean batch reaches), the batch
drifted, and the features whose permutation breaks the separation are the ones that moved.

Training stores a small uniform sample of its data in the manifest (`reference_sample`); scoring keeps
a uniform sample of the batch while it streams (`BatchSample`) and compares them at the end
(`domain_classifier_drift`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Feature

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

# scikit-learn and scipy are imported by the functions that fit and test, not with this module: scoring
# streams a whole batch before it asks for the check, and its cold start should not pay for them.

FOLDS = 3
PERMUTATIONS = 12  # label-shuffled repeats of the whole cross-validation: the null AUCs
IMPORTANCE_REPEATS = 3
TOP_FEATURES = 5
# The pooled null's scale is 1.3 to 1.5 times the Mann-Whitney sd in simulations (`_threshold_auc`). The
# permutations' threshold passes the ceiling at CEILING_SCALE times it only if their rms is over 2.6 times its
# expected 1.5: P(chi2 with 12 df > 12 * 2.67^2 = 85) < 1e-12 (3e-6 were the null's scale even 2 times it).
CEILING_SCALE = 4.0
MAX_CATEGORIES = 254  # the classifier's native categorical support takes at most 255 codes (ours + "other")
METHOD = (
    f"domain classifier: HistGradientBoosting (depth 3), {FOLDS}-fold stratified out-of-fold ROC AUC on "
    f"equal-size samples; threshold: upper (1 - false_alarm_rate) bound of a normal null AUC centred at 0.5, "
    f"its scale from {PERMUTATIONS} label permutations (Student t, {PERMUTATIONS} df), never below the "
    f"Mann-Whitney analytic bound (the permutations run only for an AUC between that floor and a ceiling at "
    f"{CEILING_SCALE:g} times its scale, where they decide); features by held-out permutation importance"
)

NO_PERMUTATIONS = (
    "the analytic floor: the AUC is not above it, and the permutation threshold never is below it, so the "
    "permutations were skipped (the batch is not drifted either way)"
)
ABOVE_CEILING = (
    f"the ceiling: the AUC is above the threshold the permutations would give even at {CEILING_SCALE:g} times the "
    "Mann-Whitney scale (they give 1.3 to 1.5 times), so they were skipped (the batch is drifted either way; "
    "the score is measured against the ceiling, so it is lower than theirs)"
)

Columns = Mapping[str, np.ndarray]
Fold = tuple["HistGradientBoostingClassifier", np.ndarray]  # a fold's fitted model and its held-out rows


def _significant(values: np.ndarray) -> np.ndarray:
    """Numeric values rounded to 6 significant digits (what the manifest stores)."""
    return np.char.mod("%.6g", np.asarray(values, dtype=np.float64)).astype(np.float64)


def _json_values(values: np.ndarray, feature: Feature) -> list[Any]:
    if not feature.is_numeric:
        return [str(v) for v in values]
    rounded = _significant(values)
    # Strict JSON has no NaN or infinity; None reads back as NaN.
    return [v if np.isfinite(v) else None for v in rounded.tolist()]


def reference_sample(columns: Columns, features: Sequence[Feature], rows: int, seed: int) -> dict[str, Any] | None:
    """A uniform random sample of at most `rows` rows of the training data, for the manifest.

    JSON-serialisable: {"rows": n, "columns": {name: [values...]}}, numeric values rounded to 6
    significant digits (non-finite ones as null), categorical ones as strings. `rows` == 0 turns the
    sample off (the data is too sensitive to copy into the manifest): None.
    """
    features = [f for f in features if not f.is_text]  # text is judged by its words and lengths (textdrift)
    if rows <= 0 or not features:
        return None
    total = len(columns[features[0].name])
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=min(rows, total), replace=False))
    return {
        "rows": len(chosen),
        "columns": {f.name: _json_values(np.asarray(columns[f.name])[chosen], f) for f in features},
    }


class BatchSample:
    """A uniform random sample of at most `size` rows of a batch, kept while the batch streams by.

    Every row gets a uniform random key and the sample is the `size` rows with the smallest keys (a
    reservoir, vectorised per chunk): any subset of `size` rows is equally likely, the rows of a chunk
    are drawn in one call, and the sample does not depend on how the batch was cut into chunks.
    """

    def __init__(self, features: Sequence[Feature], size: int, seed: int) -> None:
        self._features = tuple(features)
        self._size = max(size, 0)
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)  # ascending
        self._columns: dict[str, np.ndarray] = {
            f.name: np.empty(0, dtype=np.float64 if f.is_numeric else object) for f in self._features
        }

    def update(self, columns: Columns) -> None:
        """Offer one chunk: feature columns as scoring has them (float64 numeric, object categorical)."""
        if not self._size:
            return
        keys = self._rng.random(len(columns[self._features[0].name]))
        full = len(self._keys) == self._size
        entering = np.flatnonzero(keys < self._keys[-1]) if full else np.arange(len(keys))
        merged = np.concatenate([self._keys, keys[entering]])
        keep = np.argsort(merged)[: self._size]
        self._keys = merged[keep]
        for f in self._features:
            values = np.asarray(columns[f.name])[entering].astype(self._columns[f.name].dtype, copy=False)
            self._columns[f.name] = np.concatenate([self._columns[f.name], values])[keep]

    @property
    def rows(self) -> int:
        return len(self._keys)

    def columns(self) -> dict[str, np.ndarray]:
        """The sample, one array per feature (the same row at the same index in each)."""
        return dict(self._columns)


def _encode(columns: Columns, feature: Feature, rows: np.ndarray) -> np.ndarray:
    """One classifier input column: numeric values rounded like the stored reference, categories as codes."""
    values = np.asarray(columns[feature.name])[rows]
    if feature.is_numeric:
        # Both sides rounded alike, so the classifier cannot tell them apart by their last digits.
        return _significant(values)
    index = {c: i for i, c in enumerate(feature.categories)}
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    codes = np.array([index.get(u, len(index)) for u in uniques], dtype=np.float64)
    return codes[inverse.reshape(-1)]


def _classifier(features: Sequence[Feature], seed: int) -> HistGradientBoostingClassifier:
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415 - see the module's imports

    categorical = [not f.is_numeric and len(f.categories) <= MAX_CATEGORIES for f in features]
    return HistGradientBoostingClassifier(
        max_iter=30,
        max_depth=3,
        learning_rate=0.2,
        early_stopping=False,
        categorical_features=categorical,
        random_state=seed,
    )


def _out_of_fold(x: np.ndarray, y: np.ndarray, features: Sequence[Feature], seed: int) -> tuple[float, list[Fold]]:
    """The out-of-fold ROC AUC of the classifier, and the fitted folds."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - see the module's imports
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    scores = np.empty(len(y))
    folds: list[Fold] = []
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        model = _classifier(features, seed).fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
        folds.append((model, test))
    return float(roc_auc_score(y, scores)), folds


def _separating_features(
    x: np.ndarray, y: np.ndarray, folds: list[Fold], features: Sequence[Feature], seed: int
) -> list[list[Any]]:
    """[name, importance] of the features whose permutation lowers the held-out AUC, most first.

    Measured on each fold's held-out rows (not the rows a model was fitted on, where noise the trees
    split on would count too) and averaged over the folds: a feature's importance is the mean drop of the
    held-out ROC AUC over IMPORTANCE_REPEATS permutations of its column, as scikit-learn's
    `permutation_importance` defines it. Its predict and scorer call per permutation (19 a fold) took
    0.30 of a drifted batch's 0.35 s verdict; here a fold's permutations are stacked and predicted at once,
    and their AUCs ranked at once (0.05 s).
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(len(features))
    for model, test in folds:
        held = x[test]
        copies = [held]
        for j in range(len(features)):
            for _ in range(IMPORTANCE_REPEATS):
                permuted = held.copy()
                permuted[:, j] = rng.permutation(held[:, j])
                copies.append(permuted)
        with _one_thread():
            scores = model.predict_proba(np.vstack(copies))[:, 1].reshape(len(copies), len(test))
        auc = _roc_auc(y[test], scores)
        total += auc[0] - auc[1:].reshape(len(features), IMPORTANCE_REPEATS).mean(axis=1)
    importance = np.round(total / len(folds), 4)
    order = np.argsort(-importance, kind="stable")[:TOP_FEATURES]
    return [[features[j].name, float(importance[j])] for j in order if importance[j] > 0]


def _roc_auc(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The ROC AUC of each row of `scores` against the 0/1 `truth`: the Mann-Whitney U over the positives'
    ranks, a tie counting one half (what `roc_auc_score` computes)."""
    from scipy.stats import rankdata  # noqa: PLC0415 - see the module's imports

    positives = truth == 1
    count = int(positives.sum())
    ranks = rankdata(scores, axis=1)
    return (ranks[:, positives].sum(axis=1) - count * (count + 1) / 2) / (count * (len(truth) - count))


def _mann_whitney_sd(rows: int) -> float:
    """The sd of the AUC of one held-out fold under the null, `rows` rows a side: sqrt((2n + 1) / (12 n^2))."""
    return float(np.sqrt((2 * rows + 1) / (12 * rows**2)))


def _analytic_floor(rows: int, false_alarm_rate: float) -> float:
    """The least threshold AUC for `rows` rows a side: the Mann-Whitney variance is the exact null of one
    held-out fold (see `_threshold_auc`)."""
    from scipy.stats import norm  # noqa: PLC0415 - see the module's imports

    return 0.5 + float(norm.ppf(1 - false_alarm_rate)) * _mann_whitney_sd(rows)


def _ceiling(rows: int, false_alarm_rate: float) -> float:
    """The greatest threshold AUC the permutations can be believed to give for `rows` rows a side: their bound
    (`_threshold_auc`) with a scale of CEILING_SCALE Mann-Whitney sds."""
    return _t_bound(CEILING_SCALE * _mann_whitney_sd(rows), df=PERMUTATIONS, false_alarm_rate=false_alarm_rate)


def _t_bound(scale: float, *, df: int, false_alarm_rate: float) -> float:
    """The AUC a null centred at 0.5 with this `scale` (Student t, `df` degrees of freedom) exceeds with
    probability `false_alarm_rate`."""
    from scipy.stats import t as student_t  # noqa: PLC0415 - see the module's imports

    return 0.5 + float(student_t.ppf(1 - false_alarm_rate, df=df)) * scale


def _threshold_auc(null_aucs: Sequence[float], rows: int, false_alarm_rate: float) -> float:
    """The AUC a clean batch exceeds with probability `false_alarm_rate`, `rows` rows a side.

    The null AUC is taken as normal around 0.5. Its scale comes from the permutation AUCs: with the
    mean known, (AUC - 0.5) / rms(permutation AUC - 0.5) follows Student's t with one degree of
    freedom per permutation, which makes a dozen permutations enough for a calibrated bound. The
    Mann-Whitney variance (2n + 1) / (12 n^2) is the exact null of one held-out fold; pooled over
    folds the null is wider (each fold's model learnt the noise of the others' rows: 1.3 to 1.5 times
    the Mann-Whitney sd in simulations), so the analytic bound is a floor, used when the permutations
    happen to be unusually tight.
    """
    deviations = np.asarray(null_aucs, dtype=np.float64) - 0.5
    permuted = _t_bound(float(np.sqrt(np.mean(deviations**2))), df=len(deviations), false_alarm_rate=false_alarm_rate)
    return max(permuted, _analytic_floor(rows, false_alarm_rate))


def _classify(
    x: np.ndarray,
    y: np.ndarray,
    features: Sequence[Feature],
    seed: int,
    rng: np.random.Generator,
    *,
    floor: float,
    ceiling: float,
) -> tuple[float, list[float] | None, list[Fold]]:
    """The out-of-fold AUC, the AUCs of the same procedure on shuffled labels, the fitted folds.

    The permutations (36 fits) run only for an AUC between `floor` and `ceiling`, where they decide. At most
    the floor, no permutation could make the batch drift; above the ceiling, none could keep it from drifting
    (`CEILING_SCALE`). There the AUCs are None and the verdict is the one they would give."""
    with _one_thread():
        auc, folds = _out_of_fold(x, y, features, seed)
        null = None
        if floor < auc <= ceiling:
            null = [_out_of_fold(x, rng.permutation(y), features, seed)[0] for _ in range(PERMUTATIONS)]
        return auc, null, folds


def _one_thread() -> Any:
    """OpenMP threads cost more than they save on fits this small, and many times more when the cores
    are busy (measured on 2 cores: ~20 ms a fit on one thread, 200 ms to 2 s on two)."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - see the module's imports

    return threadpool_limits(limits=1, user_api="openmp")


def _reference_columns(reference: Mapping[str, Any], features: Sequence[Feature]) -> dict[str, np.ndarray]:
    stored = reference["columns"]
    return {f.name: np.asarray(stored[f.name], dtype=np.float64 if f.is_numeric else object) for f in features}


def _paired_sample(
    reference: Columns, batch: Columns, features: Sequence[Feature], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Equal numbers of reference (label 0) and batch (label 1) rows: the larger side subsampled."""
    sizes = [len(reference[features[0].name]), len(batch[features[0].name])]
    n = min(sizes)
    blocks = []
    for side, size in zip((reference, batch), sizes, strict=True):
        rows = np.sort(rng.choice(size, size=n, replace=False))
        blocks.append(np.column_stack([_encode(side, f, rows) for f in features]))
    return np.vstack(blocks), np.repeat(np.array([0, 1]), n)


def domain_classifier_drift(
    reference: Mapping[str, Any],
    batch: Columns,
    features: Sequence[Feature],
    *,
    false_alarm_rate: float,
    seed: int,
    min_rows: int = 100,
) -> dict[str, Any]:
    """Whether a classifier tells the batch sample from the reference sample better than chance.

    `reference` is a `reference_sample`, `batch` a `BatchSample.columns()`. Both sides are cut to the
    same size; the out-of-fold ROC AUC ("auc") is compared with "threshold_auc" (see `_threshold_auc`);
    "score" = (auc - 0.5) / (threshold_auc - 0.5), above 1 when "drifted". "rows" are the rows used on
    each side, "features" the [name, importance] of at most 5 separating features of a drifted batch, most
    first (none for a batch that is not: permuting features to see which separate it would cost ~1.3 s of
    the check's 1.5 s, measured on 2,000 churn rows a side, to name noise). "threshold"
    says where threshold_auc came from: the permutations; or, deciding the same in 3 fits instead of 39, the
    analytic floor (an AUC not above it) or the ceiling (an AUC above it).
    Fewer than `min_rows` rows on either side: {"skipped": reason}.
    """
    if not 0 < false_alarm_rate < 0.5:
        raise ValueError(f"false_alarm_rate must be in (0, 0.5), not {false_alarm_rate}")
    ref = _reference_columns(reference, features)
    sizes = len(ref[features[0].name]), len(batch[features[0].name])
    if min(sizes) < min_rows:
        return {
            "skipped": f"too few rows for the domain classifier: reference {sizes[0]}, batch {sizes[1]}, "
            f"need {min_rows} on each side"
        }
    rng = np.random.default_rng(seed)
    x, y = _paired_sample(ref, batch, features, rng)
    rows = len(y) // 2
    floor, ceiling = _analytic_floor(rows, false_alarm_rate), _ceiling(rows, false_alarm_rate)
    auc, null, folds = _classify(x, y, features, seed, rng, floor=floor, ceiling=ceiling)
    if null is not None:
        threshold, source = _threshold_auc(null, rows, false_alarm_rate), "permutations"
    else:
        threshold, source = (floor, NO_PERMUTATIONS) if auc <= floor else (ceiling, ABOVE_CEILING)
    drifted = auc > threshold
    return {
        "auc": round(auc, 4),
        "threshold_auc": round(threshold, 4),
        "score": round((auc - 0.5) / (threshold - 0.5), 3),
        "drifted": drifted,
        "rows": {"reference": rows, "batch": rows},
        # Only a drifted batch is separated: the importance would name noise, at most of the check's cost.
        "features": _separating_features(x, y, folds, features, seed) if drifted else [],
        "method": METHOD,
        "threshold": source,
    }
