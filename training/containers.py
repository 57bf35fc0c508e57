"""Which container engine this machine has, the options its runs need and the training image's local tag:
`mlops_core.containers`, under the name the training side (the local SageMaker-style runner) imports.

Kept in mlops_core because the `mlops` CLI, which builds the image, ships without the training package.
"""

from mlops_core.containers import Engine, find_engine, local_image

__all__ = ["Engine", "find_engine", "local_image"]
