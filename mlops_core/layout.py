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
