"""Your own pipeline code: `[model] pipeline = "pipelines.<module>:<function>"` in mlops.toml names a
function here that takes the ProjectConfig and returns the whole unfitted scikit-learn model.

This package is yours: `mlops deploy` bundles it, as it is, into every function's code and the training
image, so the classes of a pickled model (a custom transformer) unpickle where models are scored. It
runs with the functions' permissions, like the rest of the code you deploy. Define classes at the top
level of a module here (not in a notebook's __main__ or inside a function), or pickling cannot find them.
Only the Lambda layer's libraries are there (lambdas/requirements.txt).

`churn.py` is the example (used by examples/custom-pipeline/mlops.toml).
"""
