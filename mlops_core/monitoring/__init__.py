"""Drift and performance signals: a batch compared with the champion's reference profile.

From the statistics up to the one rule that reads them:

- ``bins``                  reference bins (quantiles, categories) and the population stability index
- ``text``                  a text feature's words and lengths against its reference vocabulary
- ``multivariate``          a domain classifier that tries to tell reference rows from batch rows
- ``performance_estimate``  label-free accuracy and ROC AUC from calibrated scores (CBPE)
- ``quality``               data quality: missing and unknown shares against the reference's (a size-aware
                            exact test), the numeric range
- ``verdict``               the one drift rule (batch-size-aware PSI thresholds, data quality) and its summary line
- ``drift``                 the reference profile training stores, and ``DriftAccumulator``, which counts
                            a batch chunk by chunk and asks the verdict

Reads the config; imports nothing else of the project's.
"""

from .bins import bin_counts, column_spec, expected_proportions, psi
from .drift import DriftAccumulator, build_profile, features_from_profile
from .multivariate import BatchSample, domain_classifier_drift, reference_sample
from .performance_estimate import PerformanceEstimator, calibrated, fit_calibration, realized_vs_estimated
from .quality import QualityCounts, QualitySignal, quality_spec, share_changed, share_p_value
from .text import TextCounts, bin_names, text_spec
from .verdict import DriftSummary, Signal, judge, psi_threshold_for, verdict_line

__all__ = [
    "BatchSample",
    "DriftAccumulator",
    "DriftSummary",
    "PerformanceEstimator",
    "QualityCounts",
    "QualitySignal",
    "Signal",
    "TextCounts",
    "bin_counts",
    "bin_names",
    "build_profile",
    "calibrated",
    "column_spec",
    "domain_classifier_drift",
    "expected_proportions",
    "features_from_profile",
    "fit_calibration",
    "judge",
    "psi",
    "psi_threshold_for",
    "quality_spec",
    "realized_vs_estimated",
    "reference_sample",
    "share_changed",
    "share_p_value",
    "text_spec",
    "verdict_line",
]
