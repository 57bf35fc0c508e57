"""The naive peer of bench_online.py: a FastAPI app that `joblib.load`s the model file and, for POST /predict,
builds `pd.DataFrame(body["records"])` and answers `{"predictions": predict_proba(frame)[:, 1]}`.

Naive on purpose, and honest about it: no validation (a wrong type, a missing or unknown field, an unknown
category is whatever pandas and scikit-learn make of it), no checksum of the model file, no challenger, no
capture. Served by uvicorn (bench_online.py starts it):

    PEER_MODEL=/path/model.joblib uvicorn online_peer:app --app-dir bench --port 8000
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI

app = FastAPI()
model: Any = None


def load_model(path: str) -> None:
    """The model, unpickled from the file as it is (no checksum)."""
    global model  # noqa: PLW0603 - the app's one model, loaded at start-up
    model = joblib.load(path)


@app.post("/predict")
async def predict(body: dict):  # FastAPI serializes whatever it returns (a dict here) as JSON
    frame = pd.DataFrame(body["records"])
    return {"predictions": model.predict_proba(frame)[:, 1].tolist()}


if path := os.environ.get("PEER_MODEL"):  # under uvicorn: loaded once, at start-up
    load_model(path)
