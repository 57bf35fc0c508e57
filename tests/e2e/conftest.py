"""One local AWS per test session, shared by every end-to-end test.

If local AWS already runs (`make up`, or docker compose), the tests use it and leave it running;
otherwise the session starts it and stops it at the end.

On two pytest-xdist workers (`make test` runs `-n 2`), the controller starts local AWS
before the workers and stops it after both; every test on the demo stack (the `deployed` fixture) is one
unit of work, so one worker deploys and drives it while the other runs the projects that deploy stacks of their
own. Most of an end-to-end test is waiting on local AWS (alarms evaluated once a period, a queue's
visibility timeout), so two streams of tests finish in little more than the longer one.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlopsctl import stack
from mlopsctl.localaws import LocalAws

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MLOPS = [sys.executable, "-m", "mlopsctl"]


def mlops(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the operator CLI as a user would; its exit code and output."""
    return subprocess.run([*MLOPS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


# The modules whose tests run on the demo stack (the `deployed` fixture): one pytest-xdist worker takes them
# all, in order (collection refuses a test on that stack elsewhere, so the list cannot fall behind).
DEMO_STACK_MODULES = ("test_pipeline.py", "test_resilience.py", "test_resilience_overwrite.py", "test_schedule.py")


def _on_demo_stack(nodeid: str) -> bool:
    return Path(nodeid.split("::", 1)[0]).name in DEMO_STACK_MODULES


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each test is its own unit of work, but the demo stack's tests are one (the largest, so handed out first).

    Not pytest-xdist's `--dist loadgroup`: with pytest 9 it leaves `xdist_group` tests on any worker.
    """
    from xdist.scheduler import LoadScopeScheduling

    class DemoStackTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "demo-stack" if _on_demo_stack(nodeid) else nodeid

    return DemoStackTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end tests, and refuse a test on the demo stack outside DEMO_STACK_MODULES."""
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        item.add_marker(pytest.mark.e2e)
        if "deployed" in getattr(item, "fixturenames", ()) and not _on_demo_stack(item.nodeid):
            raise pytest.UsageError(f"{item.nodeid} runs on the demo stack: add its module to DEMO_STACK_MODULES")


def _xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


_STARTED_BY_CONTROLLER = pytest.StashKey[LocalAws]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, the controller starts local AWS once, before any worker needs it."""
    if _xdist_controller(session.config):
        runner = LocalAws(ROOT)
        if not runner.status().running:
            runner.up()
            session.config.stash[_STARTED_BY_CONTROLLER] = runner


def pytest_sessionfinish(session: pytest.Session) -> None:
    runner = session.config.stash.get(_STARTED_BY_CONTROLLER, None)
    if runner is not None:
        runner.down()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    runner = LocalAws(ROOT)
    already_running = runner.status().running
    runner.up()
    yield runner
    if not already_running:
        runner.down()


def deploy_own_stack(request: pytest.FixtureRequest, config_file: Path, label: str) -> dict[str, str]:
    """Deploy a project's own stack on the session's local AWS; it is deleted when `request`'s scope ends
    (the test, or the module for a module fixture), pass or fail, so its alarms and schedules stop ticking
    while the rest of the session runs."""
    from mlopsctl.deploy import deploy, remove_local_stack

    request.addfinalizer(lambda: remove_local_stack(ROOT, config_file=config_file, log=lambda _m: None))
    return deploy(ROOT, target="localstack", label=label, config_file=config_file, log=lambda _m: None)


@pytest.fixture(scope="session")
def aws_endpoint(local_aws: LocalAws) -> str:
    return local_aws.endpoint


@pytest.fixture(scope="session")
def deployed(local_aws: LocalAws) -> dict[str, str]:
    """The stack, deployed once per session to local AWS; its outputs."""
    from mlopsctl.deploy import deploy

    return deploy(ROOT, target="localstack", label="e2e-1", log=lambda _msg: None)


@pytest.fixture(scope="session")
def boto_session(aws_endpoint: str) -> boto3.Session:
    """A boto3 session whose clients talk to local AWS (localstack-client does the endpoint wiring)."""
    import localstack_client.session

    return localstack_client.session.Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=REGION,
        localstack_host=aws_endpoint.removeprefix("http://"),
    )


@pytest.fixture(scope="session")
def demo(deployed) -> subprocess.CompletedProcess:
    """`mlops demo` run once per session: it leaves a champion, an earlier version and scored batches."""
    result = mlops("demo", "--report-dir", str(ROOT / ".local-aws" / "e2e-report"))
    print(result.stdout)  # the timeline, in the test log
    return result


@pytest.fixture(scope="module")
def pipeline(demo) -> stack.Pipeline:
    """The session's stack after `mlops demo`: a champion, an earlier version and scored batches."""
    assert demo.returncode == 0, demo.stdout + demo.stderr
    return stack.Pipeline.connect(ROOT, "localstack")


@pytest.fixture
def fast_redelivery(pipeline: stack.Pipeline) -> Iterator[None]:
    """A 10 s visibility timeout while a test needs SQS to redeliver soon (the stack's is 30 min): the
    no-champion retries, for one, reach the dead-letter queue in about 30 s."""
    sqs, url = pipeline.client("sqs"), pipeline.outputs["ScoringQueueUrl"]
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "10"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes=before)


def subscribe_probe(pipeline: stack.Pipeline, name: str) -> str:
    """An SQS queue subscribed to the alerts topic, standing in for the people who get the alerts; its URL."""
    sqs = pipeline.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pipeline.client("sns").subscribe(
        TopicArn=pipeline.outputs["AlertsTopic"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def alert_naming(pipeline: stack.Pipeline, probe: str, text: str, timeout_s: float = 60) -> str:
    """The first alert on the probe queue that names `text` (alarm notifications may come first); its body."""
    sqs = pipeline.client("sqs")

    def named() -> str | None:
        messages = sqs.receive_message(QueueUrl=probe, WaitTimeSeconds=5, MaxNumberOfMessages=10).get("Messages", [])
        return next((m["Body"] for m in messages if text in m["Body"]), None)

    return stack.wait_for(f"an alert naming {text}", named, timeout_s=timeout_s)
