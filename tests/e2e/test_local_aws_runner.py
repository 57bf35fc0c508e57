"""The local-AWS runner: idempotent up/down/status, an external LocalStack is used not managed, and
`down` leaves no function process behind. Runs its own instance on another port so the session's
shared local AWS is untouched."""

from __future__ import annotations

import io
import zipfile

import boto3
import psutil
import pytest

from mlopsctl.localaws import LocalAws

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
