"""The model: what training fits, what scoring feeds it, and what it predicts.

- ``pipeline``     the feature schema and the scikit-learn pipeline (encoders, vectorizers, estimator)
- ``search``       the one model or each candidate of a search, with the space its grid spans
- ``usercode``     the user's own ``pipelines.<module>:<function>``, loaded and checked
- ``predictions``  a model's predictions per task as scoring writes them, and their metrics
- ``boosting``     a fitted gradient boosting model predicting from its bins, the same predictions
- ``leaf_masks``   its binned trees read as leaf masks (table look-ups, no branch per node), the same sums
- ``vectorizer``   a fitted TF-IDF vectorizer's matrix built a block at a time, the same entries

Reads the config; imports nothing else of the project's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what the type checker sees; at run time each name is found on first use (below)
    from .pipeline import build_pipeline, features_from_schema, model_input, schema_dict
    from .predictions import Predictions, Predictor, class_predictions, metrics, proba_columns, probability_text
    from .search import Planned, base_model, candidate_model, check_model, plan, search_space
    from .usercode import PipelineError, check_user_model, load_function, user_pipeline

# Re-exported lazily (PEP 562), as in mlops_core.registry: scoring and the online endpoint use `pipeline`'s
# schema and `predictions` only, and loading `search` with them would import scikit-learn in their cold start.
_MODULES = ("pipeline", "predictions", "usercode", "search")
__all__ = [
    "PipelineError",
    "Planned",
    "Predictions",
    "Predictor",
    "base_model",
    "build_pipeline",
    "candidate_model",
    "check_model",
    "check_user_model",
    "class_predictions",
    "features_from_schema",
    "load_function",
    "metrics",
    "model_input",
    "plan",
    "proba_columns",
    "probability_text",
    "schema_dict",
    "search_space",
    "user_pipeline",
]


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, __all__)
