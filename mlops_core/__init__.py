"""The core of the pipeline, shared by the Lambda functions, the training job and the `mlops` CLI.

Packages by concern, each with its map in its own ``__init__``. Dependencies run one way (checked by
the layers contract in ``pyproject.toml``, run by ``make lint``):

    config  <-  data, modeling, monitoring  <-  registry
                storage                     <-  registry

- ``config``      ``mlops.toml`` read into typed settings: project, model, features, task
- ``data``        CSV bytes to typed feature columns, every row used or reported
- ``modeling``    the pipeline training fits and scoring feeds, the search, the predictions
- ``monitoring``  drift, text drift, the multivariate check, the label-free estimate, the verdict
- ``storage``     the S3 layout and small JSON records
- ``registry``    versions, the champion and challenger pointers, and every decision that moves them

And six modules beside them:

- ``environment``    each function's environment variables as one typed record, checked at cold start
- ``observability``  logging, and the metric names, units and dimensions publishers and alarms share
- ``lazy``           a package's public names re-exported lazily, so a function loads only what it uses
- ``lookup``         where values stand among known ones (categories, a vocabulary), in one hash lookup
- ``words``          the words of a block of documents as scikit-learn's analyzer finds them, found once
- ``containers``     the container engine here (docker or podman) and the training image's local tag
"""
