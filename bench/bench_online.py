"""Online requests, warm and cold: our endpoint (lambdas/online) against a naive FastAPI peer. A benchmark,
not a test.

The requests: POST /predict with `{"records": [...]}` of 1 and of 100 churn records (mlops.toml's features,
the id under `[online] id_column`), generated (seeded); a pool of different bodies taken in turn, sent one
after another by one client (no concurrency), after a warm-up. For each contender and size: p50 and p99 of
the requests' latencies in ms, and requests/s = the requests over the sum of their latencies (one client,
one request at a time: 1 / the mean latency).

The contenders, all in the same run, taking turns in rounds so that a shared machine's load falls on all alike:
- ours, handler: `online.handler.lambda_handler` called in-process with an API Gateway (REST v1) proxy event,
  its endpoint built by `endpoint()` from DATA_BUCKET/MODELS_BUCKET and mlops.toml against moto S3 (mock_aws)
  holding a champion trained here (training.train.train_and_register on 3,000 generated rows). It reads and
  checks the request, converts the records on batch's precise path, scores them with batch's ChunkWriter,
  writes the JSON answer, and captures the request (capture_share 1.0: every request's records) with the real
  S3Capture. That capture is a PUT to moto's in-process S3: its botocore and moto cost is counted, a network
  round trip to S3 is not (on AWS the PUT is a network call the caller waits for). The champion pointer is
  re-read every `online.refresh_seconds`, as deployed.
- ours, respond only: `online.handler.respond(event, service)`, the same answer without the capture or the
  logger decorator: the capture's share is the difference.
- peer, in-process: the route function of bench/online_peer.py called directly, with `json.loads` of the body
  before it and `json.dumps` of its answer after it (ours too takes a body string and returns one). The
  goal's comparison (ours p50 for one record at most the peer's) is this one: in-process against in-process.
- peer, HTTP: the same app served by uvicorn (asyncio loop, h11) in a subprocess on 127.0.0.1, timed from
  this process with http.client over one kept-alive connection. These figures include HTTP (the client,
  loopback, uvicorn, FastAPI's parsing and serializing); ours in-process include none of that.
- ours, local AWS (--endpoint): the same requests through the deployed stack's API Gateway -> Lambda on
  LocalStack, with the same client: HTTP, API Gateway's emulation and the Lambda runtime included.

The peer is naive on purpose: `pd.DataFrame(records)` and `predict_proba`, no validation of any field, no
checksum of the model file, no challenger, no capture, and only the positive class's probability per record;
ours answers id, prediction and score per record after checking every field.

Cold start, each in a clean interpreter (`python -c`, the clock started on its first line, nothing imported
before it but what the interpreter imports itself):
- ours: `import online.handler` (imports) + `endpoint()` (the config and boto3 clients) + the champion loaded
  through the real Registry and ServingModels (its pointer, manifest and artifact, the artifact's SHA-256
  checked, its compressed joblib bytes unpickled; the objects read from local files instead of S3: no network);
- the peer: `import uvicorn, online_peer` (FastAPI, pandas, joblib) + `joblib.load` of the model file.
scikit-learn is imported while unpickling, in both. The first 1-record request after that is reported apart,
as is the child process's whole life seen from here (interpreter start and exit included). Median of
--cold-runs runs each, the two taking turns.

Goals (the issue): ours p50 for one record in-process at most the peer's in-process; cold start (imports +
endpoint + model load) under 1.5 s; p99 under 50 ms in-process (ours, handler, both sizes).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_online.py [--requests 500] [--batch-requests 200]
        [--endpoint URL|stack] [--endpoint-requests 100]

--endpoint takes the stack's API base URL (the "OnlineEndpoint" output; on LocalStack
http://127.0.0.1:4566/restapis/<api-id>/prod/_user_request_/), "/predict" appended unless it ends with it;
`--endpoint stack` reads that output from the last local deploy (.local-aws/), skipped when absent.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import cProfile
import csv
import functools
import http.client
import io
import itertools
import json
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas"), str(ROOT / "bench")]
RESULTS = ROOT / "bench" / "results"
REGION = "us-east-1"
DATA, MODELS = "bench-data", "bench-models"
SIZES = (1, 100)
POOL = 500  # different records for the 1-record requests (and 10 different bodies of 100)
P99_GOAL_MS, COLD_GOAL_S = 50.0, 1.5

# The clean children. Each starts its clock on its first line: only what the interpreter imports itself
# (sys, os, time and their kind) is in before it.
COLD_OURS = r"""
import time
started = time.perf_counter()
import online.handler as handler
imported = time.perf_counter()
service = handler.endpoint()
built = time.perf_counter()
import dataclasses, io, json, sys
from pathlib import Path
from botocore.exceptions import ClientError
from mlops_core.registry.store import Registry
from online.serving import ServingModels


class FilesS3:
    # get_object from the folder the parent wrote, the registry's keys as paths: no network.
    def __init__(self, root):
        self.root = Path(root)

    def get_object(self, Bucket, Key, **_):
        path = self.root / Key
        if not path.is_file():
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
        return {"Body": io.BytesIO(path.read_bytes()), "ETag": '"bench"'}


models = ServingModels(
    Registry(FilesS3(sys.argv[1]), "models"),
    refresh_seconds=service.config.online.refresh_seconds,
    alert=lambda *_: None,
)
service = dataclasses.replace(service, models=models)
loading = time.perf_counter()
models.current()
loaded = time.perf_counter()
route, answer = handler.respond(json.loads(sys.argv[2]), service)
answered = time.perf_counter()
assert answer.status == 200, answer.body
print(json.dumps({
    "imports_s": imported - started,
    "endpoint_s": built - imported,
    "model_load_s": loaded - loading,
    "seconds": (built - started) + (loaded - loading),
    "first_request_s": answered - loaded,
}))
"""

COLD_PEER = r"""
import time
started = time.perf_counter()
import uvicorn
import online_peer
imported = time.perf_counter()
import json, sys
online_peer.load_model(sys.argv[1])
loaded = time.perf_counter()
coroutine = online_peer.predict(json.loads(json.loads(sys.argv[2])["body"]))
try:
    coroutine.send(None)
except StopIteration as done:
    answer = json.dumps(done.value)
answered = time.perf_counter()
assert len(json.loads(answer)["predictions"]) == 1
print(json.dumps({
    "imports_s": imported - started,
    "model_load_s": loaded - imported,
    "seconds": loaded - started,
    "first_request_s": answered - loaded,
}))
"""


# ---------------------------------------------------------------------------- the requests
def records(n: int, seed: int) -> list[dict[str, Any]]:
    """n generated churn records as JSON carries them: numbers as numbers, the id under [online] id_column."""
    from mlops_core.config import load_config
    from mlopsctl.datagen import generate

    config = load_config()
    numeric = {f.name for f in config.features if f.is_numeric}
    out = []
    for row in csv.DictReader(io.StringIO(generate(n, seed=seed, with_label=False).decode())):
        record: dict[str, Any] = {config.online.id_column: row.pop("customer_id")}
        record.update({k: (float(v) if "." in v else int(v)) if k in numeric else v for k, v in row.items()})
        out.append(record)
    return out


def bodies(size: int) -> list[str]:
    """Request bodies of `size` records each, POOL records in all (seeded)."""
    pool = records(POOL if size == 1 else 10 * size, seed=11 + size)
    return [json.dumps({"records": pool[i : i + size]}) for i in range(0, len(pool), size)]


def proxy_event(body: str, request_id: str) -> dict[str, Any]:
    """The API Gateway (REST v1) proxy event of POST /predict."""
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "stage": "prod"},
    }


def predict_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/predict") else base + "/predict"


class Client:
    """POST JSON over one kept-alive HTTP/1.1 connection (opened again when the server closed it)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"not an http(s) URL: {url!r}")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.connection = kind(parts.hostname, parts.port, timeout=60)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def post(self, body: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request("POST", self.path, body=body.encode(), headers=JSON_HEADERS)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()  # the server closed the kept-alive connection: once more, on a new one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


JSON_HEADERS = {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------- measuring
@dataclass
class Contender:
    key: str  # its results' key in online.json
    name: str
    call: Callable[[str], Any]  # one request's body -> its response
    check: Callable[[Any, int], None]  # raises unless the response answers that many records
    requests: dict[int, int]  # how many requests of each size are timed


def answered(status: int, body: str | bytes, size: int) -> None:
    if status != 200:
        raise RuntimeError(f"answered {status}: {body[:300]!r}")
    if len(json.loads(body)["predictions"]) != size:
        raise RuntimeError(f"expected {size} predictions: {body[:300]!r}")


def summary(latencies: list[float]) -> dict[str, Any]:
    ms = sorted(1000 * t for t in latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(cuts[98], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(ms[-1], 3),
        "requests_per_s": round(len(ms) / (sum(ms) / 1000), 1),
    }


def take_turns(contenders: list[Contender], size: int, *, warmup: int, rounds: int) -> dict[str, dict]:
    """Each contender's latencies for `size`-record requests: a warm-up each, then `rounds` rounds in which
    each times its share of its requests, one contender after the other."""
    pool = bodies(size)
    latencies: dict[str, list[float]] = {c.key: [] for c in contenders}
    first: dict[str, float] = {}
    turn = {c.key: itertools.cycle(pool) for c in contenders}
    for c in contenders:
        for _ in range(warmup):
            started = time.perf_counter()
            c.check(c.call(next(turn[c.key])), size)
            first.setdefault(c.key, time.perf_counter() - started)
    for r in range(rounds):
        for c in contenders:
            n = c.requests[size]
            for _ in range(n // rounds + (1 if r < n % rounds else 0)):
                body = next(turn[c.key])
                started = time.perf_counter()
                response = c.call(body)
                latencies[c.key].append(time.perf_counter() - started)
                c.check(response, size)
    names = {c.key: c.name for c in contenders}
    return {
        key: {"label": names[key], **summary(times), "first_ms": round(1000 * first[key], 3)}
        for key, times in latencies.items()
        if times
    }


# ---------------------------------------------------------------------------- the setup
@dataclass
class Trained:
    version: str
    model_path: Path  # the fitted pipeline, joblib.dump'ed as is, for the peer
    registry_dir: Path  # the registry's objects the cold child reads: champion pointer, manifest, artifact


@contextlib.contextmanager
def champion_on_moto(tmp: Path) -> Iterator[Trained]:
    """moto S3 (the stack's buckets, data versioned) with a champion trained on 3,000 generated rows and
    promoted; DATA_BUCKET and MODELS_BUCKET set for `endpoint()`."""
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        DATA_BUCKET=DATA,
        MODELS_BUCKET=MODELS,
    )
    import boto3
    import joblib
    from moto import mock_aws

    from mlops_core.config import load_config
    from mlops_core.registry.store import Registry
    from mlops_core.storage import layout
    from mlopsctl.datagen import generate
    from training.train import train_and_register

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA, MODELS):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(3000, seed=7))
        version = train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=load_config())["version"]
        registry = Registry(s3, MODELS)
        if registry.champion() is None:
            registry.promote(version, expected=None, decision={"kind": "promote", "reasons": ["bench"]})
        model, manifest = registry.load_model(version)
        model_path = tmp / "model.joblib"
        joblib.dump(model, model_path)  # what a naive app loads: the fitted pipeline, uncompressed
        registry_dir = tmp / "registry"
        for key in (layout.CHAMPION_KEY, layout.manifest_key(version), manifest["artifact_key"]):
            (registry_dir / key).parent.mkdir(parents=True, exist_ok=True)
            (registry_dir / key).write_bytes(s3.get_object(Bucket=MODELS, Key=key)["Body"].read())
        yield Trained(version, model_path, registry_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def peer_server(model_path: Path, log: Path) -> Iterator[str]:
    """bench/online_peer.py served by uvicorn on 127.0.0.1 (a free port) in a subprocess; its base URL once
    it answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "online_peer:app", "--app-dir", str(ROOT / "bench")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env={**os.environ, "PEER_MODEL": str(model_path)}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(predict_url(url))
                answered(*client.post(bodies(1)[0]), 1)
                client.close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the peer did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def endpoint_url(option: str | None) -> str | None:
    """--endpoint's URL; `stack`: the OnlineEndpoint output of the last local deploy (None, said, if absent)."""
    if option != "stack":
        return option
    from mlopsctl import stack

    try:
        url = stack.Pipeline.connect(ROOT, "localstack").outputs.get("OnlineEndpoint")
    except stack.OpsError as exc:
        print(f"local AWS endpoint skipped: {exc}")
        return None
    if url is None:
        print("local AWS endpoint skipped: the stack has no OnlineEndpoint output ([online] enabled = true?)")
    return url


# ---------------------------------------------------------------------------- the contenders
def our_contenders(requests: dict[int, int]) -> list[Contender]:
    """The handler itself (answer + capture) and `respond` alone, on the endpoint `endpoint()` builds."""
    from online import handler
    from scoring.models import forget_models

    forget_models()
    handler.endpoint.cache_clear()
    service = handler.endpoint()
    context = SimpleNamespace(
        function_name="online",
        function_version="$LATEST",
        memory_limit_in_mb=1024,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:000000000000:function:online",
        aws_request_id="bench",
    )
    ids = itertools.count()

    def through_handler(body: str) -> dict[str, Any]:
        return handler.lambda_handler(proxy_event(body, f"bench-{next(ids)}"), context)

    def through_respond(body: str) -> Any:
        return handler.respond(proxy_event(body, f"bench-{next(ids)}"), service)[1]

    return [
        Contender(
            "ours",
            "ours, handler in-process (answer + capture to moto S3)",
            through_handler,
            lambda r, n: answered(r["statusCode"], r["body"], n),
            requests,
        ),
        Contender(
            "ours_respond",
            "ours, respond in-process (answer only)",
            through_respond,
            lambda a, n: answered(a.status, a.body, n),
            requests,
        ),
    ]


def peer_contenders(model_path: Path, url: str, requests: dict[int, int]) -> list[Contender]:
    """The peer's route function in-process, and the peer over HTTP (uvicorn)."""
    import online_peer

    online_peer.load_model(str(model_path))

    def in_process(body: str) -> str:
        coroutine = online_peer.predict(json.loads(body))
        try:
            coroutine.send(None)  # the route awaits nothing: it finishes on its first step
        except StopIteration as done:
            return json.dumps(done.value)
        raise RuntimeError("the peer's route awaited something")

    client = Client(predict_url(url))
    return [
        Contender("peer", "peer, route function in-process", in_process, lambda b, n: answered(200, b, n), requests),
        Contender(
            "peer_http",
            "peer, HTTP (uvicorn on loopback, kept-alive client)",
            client.post,
            lambda r, n: answered(r[0], r[1], n),
            requests,
        ),
    ]


def endpoint_contender(url: str, requests: int) -> Contender:
    client = Client(predict_url(url))
    return Contender(
        "endpoint",
        "ours, local AWS endpoint (HTTP -> API Gateway -> Lambda)",
        client.post,
        lambda r, n: answered(r[0], r[1], n),
        dict.fromkeys(SIZES, requests),
    )


# ---------------------------------------------------------------------------- cold start and profile
def cold_starts(trained: Trained, runs: int) -> dict[str, Any]:
    """Ours and the peer, each in `runs` clean interpreters taking turns; the median of each figure."""
    event = json.dumps(proxy_event(bodies(1)[0], "cold"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "PYTHONPATH")},
        "AWS_DEFAULT_REGION": REGION,
        "DATA_BUCKET": DATA,
        "MODELS_BUCKET": MODELS,
    }
    children = {
        "ours": ([str(trained.registry_dir), event], COLD_OURS, f"{ROOT}{os.pathsep}{ROOT / 'lambdas'}"),
        "peer": ([str(trained.model_path), event], COLD_PEER, str(ROOT / "bench")),
    }
    seen: dict[str, list[dict]] = {name: [] for name in children}
    for _ in range(runs):
        for name, (args, code, path) in children.items():
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code, *args],
                env={**env, "PYTHONPATH": path},
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                raise RuntimeError(f"the {name} cold start failed: {done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            seen[name].append({**result, "process_s": time.perf_counter() - started})
    return {
        name: {
            **{k: round(statistics.median(r[k] for r in results), 3) for k in results[0]},
            "runs_s": [round(r["seconds"], 3) for r in results],
        }
        for name, results in seen.items()
    }


def profile(call: Callable[[str], Any], requests: int) -> dict[str, Any]:
    """The 1-record handler under cProfile: our functions with the most cumulative time, and all functions
    with the most time of their own, in ms per request (cProfile's overhead included)."""
    pool = itertools.cycle(bodies(1))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        call(next(pool))
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # pstats keeps its table untyped

    def name(key: tuple[str, int, str]) -> str:
        path = Path(key[0])
        if path.is_relative_to(ROOT):  # ours: lambdas/online/handler.py::lambda_handler
            return f"{path.relative_to(ROOT)}::{qualnames(path).get(key[1], key[2])}"
        return key[2] if key[0] == "~" else f"{path.name}:{key[2]}"

    per_request = 1000 / requests
    ours = [
        (v[3], name(k))
        for k, v in stats.items()
        if any(Path(k[0]).is_relative_to(ROOT / part) for part in ("lambdas", "mlops_core"))
    ]
    own = [(v[2], name(k)) for k, v in stats.items()]
    return {
        "requests": requests,
        "ours_cumulative_ms": [[n, round(s * per_request, 3)] for s, n in sorted(ours, reverse=True)[:10]],
        "own_ms": [[n, round(s * per_request, 3)] for s, n in sorted(own, reverse=True)[:10]],
    }


@functools.cache
def qualnames(path: Path) -> dict[int, str]:
    """The qualified name (Predictor.predict) of each function in a source file, by its code object's first
    line (its first decorator's) and by its `def` line."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                names.update(dict.fromkeys([child.lineno, *(d.lineno for d in child.decorator_list)], name))
                visit(child, f"{name}.<locals>.")

    visit(ast.parse(path.read_text()), "")
    return names


# ---------------------------------------------------------------------------- the run
def machine() -> dict[str, Any]:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = endpoint_url(args.endpoint)
    requests = {1: args.requests, 100: args.batch_requests}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, champion_on_moto(Path(tmp)) as trained:
        with peer_server(trained.model_path, Path(tmp) / "peer.log") as peer_url:
            contenders = our_contenders(requests) + peer_contenders(trained.model_path, peer_url, requests)
            if url:
                contenders.append(endpoint_contender(url, args.endpoint_requests))
            sizes = {size: take_turns(contenders, size, warmup=args.warmup, rounds=args.rounds) for size in SIZES}
        profiled = profile(contenders[0].call, args.profile_requests)
        cold = cold_starts(trained, args.cold_runs)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join(command_line()),
        "openmp_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "model_version": trained.version,
        "endpoint": url,
        "sizes": {str(size): results for size, results in sizes.items()},
        "cold_start_s": cold,
        "profile": profiled,
        "goals": goals(sizes, cold),
    }


def command_line() -> list[str]:
    threads = [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] if os.environ.get("OMP_NUM_THREADS") else []
    return [*threads, ".venv/bin/python", "bench/bench_online.py", *sys.argv[1:]]


def goals(sizes: dict[int, dict[str, dict]], cold: dict[str, Any]) -> dict[str, Any]:
    ours, peer = sizes[1]["ours"], sizes[1]["peer"]
    return {
        "p50_one_record_ours_vs_peer_ms": [ours["p50_ms"], peer["p50_ms"]],
        "p50_met": ours["p50_ms"] <= peer["p50_ms"],
        "p50_one_record_without_capture_ms": sizes[1]["ours_respond"]["p50_ms"],
        "cold_start_s": cold["ours"]["seconds"],
        "cold_start_met": cold["ours"]["seconds"] < COLD_GOAL_S,
        "p99_ms": {str(size): results["ours"]["p99_ms"] for size, results in sizes.items()},
        "p99_met": all(results["ours"]["p99_ms"] < P99_GOAL_MS for results in sizes.values()),
    }


def markdown(r: dict[str, Any]) -> str:
    m, load, cold, g = r["machine"], r["load_average"], r["cold_start_s"], r["goals"]
    lines = [
        "# Online requests: our endpoint against a naive FastAPI peer (bench/bench_online.py)",
        "",
        f"Measured {r['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}; load average (1 min) "
        f"{load['before'][0]} before, {load['after'][0]} after. Command: `{r['command']}`.",
        "One client, one request at a time, after a warm-up; the contenders took turns. In-process figures "
        "include no HTTP; the HTTP ones include the client, loopback and the server. Ours captures every "
        "request to moto's in-process S3 (no network round trip).",
        "",
        "| contender | records/request | requests | p50 ms | p99 ms | mean ms | requests/s | records/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, results in r["sizes"].items():
        for s in results.values():
            lines.append(
                f"| {s['label']} | {size} | {s['requests']} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} "
                f"| {s['mean_ms']:.3f} | {s['requests_per_s']:,.0f} | {s['requests_per_s'] * int(size):,.0f} |"
            )
    o, p = cold["ours"], cold["peer"]
    lines += [
        "",
        "| cold start (clean process, median of runs) | imports s | endpoint s | model load s | sum s | first "
        "request s | whole process s | runs (sum) s |",
        "|---|---|---|---|---|---|---|---|",
        f"| ours: online.handler, endpoint(), champion via Registry (SHA-256 + joblib.load) | {o['imports_s']} "
        f"| {o['endpoint_s']} | {o['model_load_s']} | {o['seconds']} | {o['first_request_s']} | {o['process_s']} "
        f"| {', '.join(map(str, o['runs_s']))} |",
        f"| peer: uvicorn + online_peer (fastapi, pandas, joblib), joblib.load | {p['imports_s']} | - "
        f"| {p['model_load_s']} | {p['seconds']} | {p['first_request_s']} | {p['process_s']} "
        f"| {', '.join(map(str, p['runs_s']))} |",
        "",
        "Goals:",
        f"- ours p50 for one record in-process <= the peer's in-process: {g['p50_one_record_ours_vs_peer_ms'][0]} ms "
        f"vs {g['p50_one_record_ours_vs_peer_ms'][1]} ms: **{'met' if g['p50_met'] else 'not met'}** (without the "
        f"capture: {g['p50_one_record_without_capture_ms']} ms)",
        f"- cold start < {COLD_GOAL_S} s: {g['cold_start_s']} s: **{'met' if g['cold_start_met'] else 'not met'}**",
        f"- p99 in-process < {P99_GOAL_MS:.0f} ms: "
        + ", ".join(f"{ms} ms ({size} record(s))" for size, ms in g["p99_ms"].items())
        + f": **{'met' if g['p99_met'] else 'not met'}**",
        "",
        f"Where ours spends a 1-record request through the handler (cProfile over {r['profile']['requests']} "
        "requests, ms per request, cProfile's overhead included):",
        "- our code, cumulative: " + ", ".join(f"`{n}` {ms}" for n, ms in r["profile"]["ours_cumulative_ms"][:8]),
        "- all code, own time: " + ", ".join(f"`{n}` {ms}" for n, ms in r["profile"]["own_ms"][:8]),
    ]
    if not r.get("endpoint"):
        lines.append("\nThrough local AWS: not measured (run with `--endpoint URL` or `--endpoint stack`).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--requests", type=int, default=500, help="1-record requests timed per contender")
    parser.add_argument("--batch-requests", type=int, default=200, help="100-record requests timed per contender")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per contender and size first")
    parser.add_argument("--rounds", type=int, default=5, help="turns the contenders take")
    parser.add_argument("--endpoint", help="the stack's API base URL, or `stack` for the local deploy's output")
    parser.add_argument("--endpoint-requests", type=int, default=100, help="requests of each size through it")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--profile-requests", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="print only (a short trial run)")
    args = parser.parse_args()
    results = measure(args)
    text = markdown(results)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "online.json").write_text(json.dumps(results, indent=2))
        (RESULTS / "online.md").write_text(text)


if __name__ == "__main__":
    main()
