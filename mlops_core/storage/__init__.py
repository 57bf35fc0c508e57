"""Where things live in S3 and how small records are read and written there.

Used by the registry (and by the functions and the CLI); imports nothing of the project's.

- ``layout``   every S3 key of the data and model buckets, built and parsed in one place
- ``s3json``   small JSON documents (receipts, reports, registry records) with conditional writes
- ``errors``   S3 client errors classified once: missing, precondition failed
- ``lock``     a lock held as one S3 object (the training run's, the MLflow sync's)
"""

from . import layout
from .errors import is_missing, is_precondition_failure
from .s3json import get_json, put_json

__all__ = ["get_json", "is_missing", "is_precondition_failure", "layout", "put_json"]
