"""Where things live in the buckets: one place for every S3 prefix and key pattern."""

INCOMING = "incoming/"
PREDICTIONS = "predictions/"
REJECTED = "rejected/"
TRAINING = "training/"
FEEDBACK = "feedback/"  # labeled batches seen by scoring, kept for retraining
REPORTS = "reports/"

# Models bucket
MODELS = "models/"  # models/<version>/model.joblib and models/<version>/manifest.json
REGISTRY = "registry/"
CHAMPION_KEY = "registry/champion.json"
HISTORY = "registry/history/"  # one object per decision, never rewritten
RUNS = "registry/runs/"  # one object per training run
LOCK_KEY = "registry/training.lock"


def input_name(key: str) -> str:
    """An incoming key's name without the prefix and the CSV extension: incoming/a/b.csv.gz -> a/b."""
    name = key.removeprefix(INCOMING)
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def part_suffix(part: int, parts: int) -> str:
    """What names the outputs of one byte range of a large file ("" for a whole file)."""
    return "" if parts == 1 else f".part-{part + 1:04d}-of-{parts:04d}"


def receipt_key(key: str, etag: str, part_suffix: str = "") -> str:
    """Where scoring records what became of an input object (or one byte range of it)."""
    return f"{REPORTS}receipts/{input_name(key)}/{etag}{part_suffix}.json"
