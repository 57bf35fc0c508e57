"""The local-AWS runner: LocalStack installed on the project's Python and answering real calls,
idempotent up/down/status, an external LocalStack is used not managed, and `down` leaves no function
process behind. Runs its own instance on another port so the session's shared local AWS is untouched."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import boto3
import psutil
import pytest

from mlopsctl.localaws import LOCALSTACK_PYTHON, LocalAws

from .conftest import ROOT

PORT = 4577


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("app.py", source)
    return buffer.getvalue()


def _workers(pid: int) -> list[psutil.Process]:
    return [
        p for p in psutil.Process(pid).children(recursive=True) if "lambda_process_executor" in " ".join(p.cmdline())
    ]


def test_given_the_install_then_localstack_runs_on_the_projects_python(local_aws):
    probe = [str(local_aws.venv / "bin" / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    localstack_python = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    assert localstack_python == LOCALSTACK_PYTHON == f"{sys.version_info.major}.{sys.version_info.minor}"


# Health lists a service as available before its provider is loaded: localstack-core 4.14.0 on Python 3.12
# answered health with every service available, then failed the first call to most of them.
SERVICE_CALLS = {
    "s3": ("list_buckets", {}),
    "sqs": ("list_queues", {}),
    "sns": ("list_topics", {}),
    "lambda": ("list_functions", {}),
    "cloudwatch": ("describe_alarms", {}),
    "logs": ("describe_log_groups", {}),
    "cloudformation": ("list_stacks", {}),
    "iam": ("list_roles", {}),
    "sts": ("get_caller_identity", {}),
}


@pytest.mark.parametrize("service", sorted(SERVICE_CALLS))
def test_given_local_aws_up_then_each_service_the_stack_uses_answers_a_call(local_aws, service):
    client = boto3.client(
        service,
        endpoint_url=local_aws.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    operation, arguments = SERVICE_CALLS[service]
    response = getattr(client, operation)(**arguments)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.fixture
def private_instance(tmp_path, local_aws):  # local_aws: the install exists (the session fixture made it)
    runner = LocalAws(ROOT, port=PORT, run_dir=tmp_path, log=lambda _msg: None)
    yield runner
    runner.down()


def test_given_an_instance_when_up_twice_then_one_process_and_down_leaves_no_function_process(private_instance):
    first = private_instance.up()
    second = private_instance.up()
    assert first.running and first.owned and second.pid == first.pid

    client = boto3.client(
        "lambda",
        endpoint_url=private_instance.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_function(
        FunctionName="probe",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/lambda",
        Code={"ZipFile": _zip("import os\ndef handler(event, context):\n    return {'pid': os.getpid()}\n")},
    )
    client.get_waiter("function_active_v2").wait(FunctionName="probe")
    assert client.invoke(FunctionName="probe")["StatusCode"] == 200
    workers = _workers(first.pid)
    assert workers, "the invoke ran in a worker process under LocalStack"

    assert private_instance.down() is True
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    assert not private_instance.status().running
    assert private_instance.down() is False  # idempotent: nothing left to stop


def test_given_something_already_answering_when_up_then_it_is_used_not_managed(private_instance, tmp_path_factory):
    started = private_instance.up()
    other = LocalAws(ROOT, port=PORT, run_dir=tmp_path_factory.mktemp("other"), log=lambda _msg: None)
    status = other.up()
    assert status.running and not status.owned
    assert other.down() is False  # it never stops what it did not start
    assert private_instance.status().pid == started.pid
