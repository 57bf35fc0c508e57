"""The process-based Lambda executor (tools/lambda-process-executor) inside a real local LocalStack.

Functions come from tests/e2e/fixtures/executor and run as host processes with a Python of their
runtime's version; these tests check what a function sees and what its callers get back.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "executor"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """The first truthy result of `check`, polling until `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def clients(aws_endpoint: str) -> dict[str, Any]:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    return {name: session.client(name, endpoint_url=aws_endpoint) for name in ("lambda", "sqs", "logs")}


@pytest.fixture
def lambda_client(clients: dict[str, Any]) -> Any:
    return clients["lambda"]


@pytest.fixture
def make_function(lambda_client: Any) -> Iterator[Callable[..., dict]]:
    """Create a function from fixture sources and wait until it leaves Pending; delete it afterwards."""
    created: list[str] = []

    def make(module: str, *, runtime: str = "python3.12", timeout: int = 5, **extra: Any) -> dict:
        name = f"executor-{module.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=extra.pop("handler", f"{module}.handler"),
            Code={"ZipFile": zip_bytes({f"{module}.py": (FIXTURES / f"{module}.py").read_text()})},
            Timeout=timeout,
            **extra,
        )
        created.append(name)
        return wait_until(
            lambda: (cfg := lambda_client.get_function_configuration(FunctionName=name))["State"] != "Pending" and cfg,
            timeout=30,
        )

    yield make
    for name in created:
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.delete_function(FunctionName=name)


def invoke(lambda_client: Any, name: str, event: dict | None = None) -> tuple[dict | str, str | None]:
    """The decoded payload and the FunctionError ("Unhandled" or None) of a synchronous invoke."""
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_given_python312_function_when_invoked_twice_then_it_runs_on_312_with_aws_env_and_stays_warm(
    lambda_client: Any, make_function: Callable[..., dict], aws_endpoint: str
) -> None:
    fn = make_function("handler", Environment={"Variables": {"FIXTURE_SETTING": "from-config"}})
    assert fn["State"] == "Active"

    first, error = invoke(lambda_client, fn["FunctionName"], {"n": 1})
    second, _ = invoke(lambda_client, fn["FunctionName"], {"n": 2})

    assert error is None
    assert first["python"] == "3.12"
    env = first["env"]
    assert env["_HANDLER"] == "handler.handler"
    assert (Path(env["LAMBDA_TASK_ROOT"]) / "handler.py").is_file()
    assert first["sys_path"] == [env["LAMBDA_TASK_ROOT"]]
    assert Path(env["LAMBDA_RUNTIME_DIR"]).is_dir()
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn["FunctionName"]
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(fn["MemorySize"])
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn['FunctionName']}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_ENDPOINT_URL"] == aws_endpoint
    assert env["FIXTURE_SETTING"] == "from-config"
    assert 0 < first["remaining_ms"] <= 5000
    # Warm start: same process, module imported once.
    assert (second["pid"], second["invocations"]) == (first["pid"], 2)


def test_given_python313_runtime_when_invoked_then_it_runs_on_a_313_interpreter(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    fn = make_function("handler", runtime="python3.13")
    if fn["State"] == "Failed" and "No Python 3.13 interpreter" in fn["StateReason"]:
        pytest.skip(fn["StateReason"])

    result, error = invoke(lambda_client, fn["FunctionName"])

    assert error is None
    assert result["python"] == "3.13"
    assert result["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"


def test_given_runtime_without_interpreter_when_created_then_function_fails_saying_how_to_install_it(
    make_function: Callable[..., dict],
) -> None:
    fn = make_function("handler", runtime="python3.14")
    if fn["State"] == "Active":
        pytest.skip("this machine has a Python 3.14 interpreter")

    assert fn["State"] == "Failed"
    assert "No Python 3.14 interpreter for runtime python3.14" in fn["StateReason"]
    assert "pyenv install 3.14" in fn["StateReason"]


def test_given_handler_that_raises_when_invoked_then_error_has_aws_shape(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    fn = make_function("handler")

    result, error = invoke(lambda_client, fn["FunctionName"], {"fail": "bad input"})

    assert error == "Unhandled"
    assert result["errorType"] == "ValueError"
    assert result["errorMessage"] == "bad input"
    assert any("handler.py" in frame and "in handler" in frame for frame in result["stackTrace"])
    assert not any("lambda_process_executor" in frame for frame in result["stackTrace"])


def test_given_slow_handler_when_timeout_passes_then_it_is_killed_and_next_call_is_a_cold_start(
    lambda_client: Any, make_function: Callable[..., dict], tmp_path: Path
) -> None:
    fn = make_function("handler", timeout=1)
    pid_file = tmp_path / "pid"

    started = time.monotonic()
    timed_out, timeout_error = invoke(lambda_client, fn["FunctionName"], {"sleep": 30, "pid_file": str(pid_file)})
    elapsed = time.monotonic() - started
    after, after_error = invoke(lambda_client, fn["FunctionName"])

    assert timeout_error == "Unhandled"
    assert timed_out["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert elapsed < 15  # cut short: the handler would sleep 30 s (a cold start on a busy machine fits)
    slow_pid = int(pid_file.read_text())
    assert wait_until(lambda: not psutil.pid_exists(slow_pid), timeout=5)
    assert after_error is None
    assert after["invocations"] == 1
    assert after["pid"] != slow_pid


def test_given_handler_process_killed_between_invocations_then_the_next_call_is_a_clean_cold_start(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    fn = make_function("handler")
    first, _ = invoke(lambda_client, fn["FunctionName"])
    handler_process = psutil.Process(first["pid"])
    handler_process.kill()
    assert wait_until(lambda: not alive(handler_process), timeout=5)

    after, error = invoke(lambda_client, fn["FunctionName"])

    assert error is None
    assert after["pid"] != first["pid"] and after["invocations"] == 1


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (
            "import_error.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'import_error': No module named 'module_that_does_not_exist'",
        ),
        ("handler.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'handler'"),
    ],
)
def test_given_broken_function_when_invoked_then_init_error_has_aws_shape(
    lambda_client: Any, make_function: Callable[..., dict], handler: str, error_type: str, message: str
) -> None:
    fn = make_function(handler.partition(".")[0], handler=handler)

    result, error = invoke(lambda_client, fn["FunctionName"])

    assert error == "Unhandled"
    assert result["errorType"] == error_type
    assert result["errorMessage"] == message


def test_given_layer_with_packages_when_function_uses_it_then_it_imports_them(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    layer = lambda_client.publish_layer_version(
        LayerName=f"executor-layer-{uuid.uuid4().hex[:8]}",
        Content={
            "ZipFile": zip_bytes(
                {
                    "python/layer_pkg/__init__.py": "VALUE = 'from python/'\n",
                    "python/lib/python3.12/site-packages/layer_site_pkg/__init__.py": "VALUE = 'from site-packages'\n",
                }
            )
        },
        CompatibleRuntimes=["python3.12"],
    )
    try:
        fn = make_function("uses_layer", Layers=[layer["LayerVersionArn"]])

        result, error = invoke(lambda_client, fn["FunctionName"])

        assert error is None, result
        assert result == {"layer_pkg": "from python/", "layer_site_pkg": "from site-packages"}
    finally:
        lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])


def test_given_sqs_event_source_mapping_when_message_is_sent_then_function_handles_it_and_it_is_deleted(
    clients: dict[str, Any], make_function: Callable[..., dict]
) -> None:
    sqs, lambda_client = clients["sqs"], clients["lambda"]
    suffix = uuid.uuid4().hex[:8]
    input_url = sqs.create_queue(QueueName=f"executor-in-{suffix}")["QueueUrl"]
    output_url = sqs.create_queue(QueueName=f"executor-out-{suffix}")["QueueUrl"]
    input_arn = sqs.get_queue_attributes(QueueUrl=input_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = make_function("forward_sqs", Environment={"Variables": {"OUTPUT_QUEUE_URL": output_url}})
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=input_arn, FunctionName=fn["FunctionName"], BatchSize=1
    )
    try:
        wait_until(
            lambda: lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled", timeout=20
        )

        sqs.send_message(QueueUrl=input_url, MessageBody="hello from sqs")
        forwarded = wait_until(
            lambda: sqs.receive_message(QueueUrl=output_url, WaitTimeSeconds=1).get("Messages"), timeout=30
        )

        assert [m["Body"] for m in forwarded] == ["hello from sqs"]

        def input_queue_empty() -> bool:
            attributes = sqs.get_queue_attributes(
                QueueUrl=input_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            return all(value == "0" for value in attributes.values())

        assert wait_until(input_queue_empty, timeout=10)
    finally:
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
        for url in (input_url, output_url):
            sqs.delete_queue(QueueUrl=url)


def test_given_two_concurrent_invocations_then_they_run_in_parallel_in_separate_environments(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    sleep_s = 5.0  # two cold starts on a loaded machine stay well inside the 3 s the serial case would add
    fn = make_function("handler", timeout=15)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, fn["FunctionName"], {"sleep": sleep_s}), range(2)))
    elapsed = time.monotonic() - started

    assert [error for _, error in results] == [None, None]
    assert len({result["pid"] for result, _ in results}) == 2
    assert elapsed < 1.6 * sleep_s


def test_given_invocation_then_its_output_and_report_reach_cloudwatch_logs(
    clients: dict[str, Any], make_function: Callable[..., dict]
) -> None:
    fn = make_function("handler")
    result, _ = invoke(clients["lambda"], fn["FunctionName"], {"marker": "log-check"})
    request_id = result["request_id"]

    def messages() -> list[str]:
        try:
            events = clients["logs"].filter_log_events(logGroupName=f"/aws/lambda/{fn['FunctionName']}")["events"]
        except clients["logs"].exceptions.ResourceNotFoundException:
            return []
        text = [event["message"] for event in events]
        return text if any(line.startswith("REPORT") for line in text) else []

    lines = wait_until(messages, timeout=15)

    assert any(line.startswith("init: handler module imported") for line in lines)
    assert any(line.startswith(f"START RequestId: {request_id}") for line in lines)
    assert any("invocation 1: {'marker': 'log-check'}" in line for line in lines)
    assert any(line.startswith(f"END RequestId: {request_id}") for line in lines)
    report = next(line for line in lines if line.startswith(f"REPORT RequestId: {request_id}"))
    for field in ("Duration:", "Billed Duration:", "Memory Size: 128 MB", "Max Memory Used:", "Init Duration:"):
        assert field in report


def test_given_function_is_deleted_then_its_processes_are_gone(
    lambda_client: Any, make_function: Callable[..., dict]
) -> None:
    fn = make_function("handler")
    result, _ = invoke(lambda_client, fn["FunctionName"])
    handler_process = psutil.Process(result["pid"])
    worker = handler_process.parent()
    assert "lambda_process_executor" in " ".join(worker.cmdline())

    lambda_client.delete_function(FunctionName=fn["FunctionName"])

    assert wait_until(lambda: not (alive(handler_process) or alive(worker)), timeout=10)


def test_given_the_executor_loaded_then_an_idle_queues_first_poll_wait_is_at_most_the_configured_maximum():
    """LocalStack's event-source workers start their empty-poll backoff at a fixed 1 s (0.5-1.5 s jittered);
    with the executor loaded (polling.py) the first wait is capped at the configured maximum, as the others."""
    from mlopsctl.localaws import ESM_MAX_EMPTY_BACKOFF_S, LocalAws

    probe = (
        "from localstack.services.lambda_.event_source_mapping import esm_worker\n"
        "def first_waits():\n"
        "    return [esm_worker.ExponentialBackoff(initial_interval=1, max_interval=float(m)).next_backoff()\n"
        "            for m in [__import__('sys').argv[1]] * 200]\n"
        "before = max(first_waits())\n"
        "from lambda_process_executor import ProcessRuntimeExecutorPlugin\n"
        "ProcessRuntimeExecutorPlugin().load()\n"
        "print(before, max(first_waits()))\n"
    )
    python = LocalAws(Path(__file__).resolve().parents[2]).venv / "bin" / "python"
    run = subprocess.run(
        [str(python), "-c", probe, ESM_MAX_EMPTY_BACKOFF_S], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    before, after = map(float, run.stdout.split())
    maximum = float(ESM_MAX_EMPTY_BACKOFF_S)
    assert before > 1.5 * maximum  # LocalStack's own: jittered around 1 s
    assert after <= 1.5 * maximum  # the cap: jittered around the maximum
