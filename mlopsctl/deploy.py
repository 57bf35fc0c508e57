"""Deploy the CDK app with the pinned CDK CLI from node_modules: cdklocal for LocalStack, cdk for AWS."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mlops_core.config import CONFIG_ENV, load_config

from .localaws import LocalAws

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"


class DeployError(RuntimeError):
    """The CDK CLI failed; the message holds the end of its output."""


def outputs_path(root: Path, target: str) -> Path:
    """Where `deploy` writes the stack outputs, keyed by stack name (the CLI and the tests read them)."""
    return root / ".local-aws" / "outputs.json" if target == "localstack" else root / "outputs-aws.json"


@contextlib.contextmanager
def one_cdk_at_a_time(root: Path) -> Iterator[None]:
    """Hold the checkout's deploy lock: one CDK CLI and one outputs-file update at a time.

    Every deploy of every project synthesises into the same cdk.out (so the Lambda dependency asset is
    bundled once, not once per project), and the CDK CLI refuses a second process on that folder;
    two terminals (or test workers) deploying two projects wait for each other instead of failing.
    """
    lock = root / "cdk.out.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_outputs_file(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text()) if path.exists() else {}


def load_outputs(root: Path, target: str, stack_name: str) -> dict[str, str] | None:
    """The outputs of the last deploy of `stack_name` to `target`, or None if it was never deployed."""
    return _read_outputs_file(outputs_path(root, target)).get(stack_name)


def save_outputs(path: Path, stack_name: str, outputs: dict[str, str]) -> None:
    """Record `stack_name`'s outputs in `path`, keeping the other stacks' entries (one file, many projects)."""
    _write_outputs_file(path, {**_read_outputs_file(path), stack_name: outputs})


def _write_outputs_file(path: Path, stacks: dict[str, dict[str, str]]) -> None:
    """Replace the file in one step: readers (`load_outputs`) take no lock, and must never see it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stacks, indent=2, sort_keys=True))
    tmp.replace(path)


def cdk_environment(root: Path, target: str, endpoint: str | None = None) -> dict[str, str]:
    """The CDK CLI's environment: quiet, no telemetry; for LocalStack, its endpoint and test credentials."""
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if target == "localstack":
        endpoint = endpoint or "http://127.0.0.1:4566"
        env.update(
            AWS_ENDPOINT_URL=endpoint,
            # cdklocal insists on an explicit S3 endpoint; an IP address makes S3 use path-style
            # URLs (virtual-hosted names under localhost do not resolve here).
            AWS_ENDPOINT_URL_S3=endpoint,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",  # noqa: S106 - LocalStack accepts any credentials
            AWS_DEFAULT_REGION=LOCAL_REGION,
            AWS_REGION=LOCAL_REGION,
            CDK_DEFAULT_ACCOUNT=LOCAL_ACCOUNT,
            CDK_DEFAULT_REGION=LOCAL_REGION,
        )
        env.pop("AWS_PROFILE", None)
    return env


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise DeployError(f"{Path(cmd[0]).name} {cmd[1]} failed (exit {proc.returncode}):\n{tail}")


def _cloudformation(env: dict[str, str]) -> Any:
    return boto3.client(
        "cloudformation",
        endpoint_url=env.get("AWS_ENDPOINT_URL"),
        region_name=env.get("AWS_REGION"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
    )


def _bootstrapped(env: dict[str, str]) -> bool:
    try:
        stacks = _cloudformation(env).describe_stacks(StackName="CDKToolkit")["Stacks"]
    except ClientError:
        return False
    status = stacks[0]["StackStatus"] if stacks else ""
    return status.endswith("_COMPLETE") and "ROLLBACK" not in status


def build_label(root: Path) -> str:
    """The git commit of the working tree (with -dirty when it has changes), or "dev"."""
    proc = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "dev"


def chosen_config() -> Path | None:
    """The config file chosen with $MLOPS_CONFIG (absolute), or None for the default mlops.toml."""
    chosen = os.environ.get(CONFIG_ENV)
    return Path(chosen).resolve() if chosen else None


def deploy(
    root: Path,
    *,
    target: str,
    label: str | None = None,
    log: Callable[[str], None] = print,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Bootstrap if needed, deploy the project's stack to `target` (labelled with the build), return its outputs.

    The project is `config_file`, else the one $MLOPS_CONFIG chooses, else the default mlops.toml.
    """
    cli_name = "cdklocal" if target == "localstack" else "cdk"
    cli = root / "node_modules" / ".bin" / cli_name
    if not cli.exists():
        raise DeployError(f"{cli_name} is not installed: run `make setup` (npm ci installs the pinned CDK CLI)")
    config_file = config_file.resolve() if config_file else chosen_config()
    stack_name = load_config(config_file).stack_name
    endpoint = None
    if target == "localstack":
        endpoint = LocalAws(root, log=log).up().endpoint
    env = cdk_environment(root, target, endpoint)
    if config_file:
        env[CONFIG_ENV] = str(config_file)  # the CDK app synthesises this project's stack
    label = label or build_label(root)
    with one_cdk_at_a_time(root):
        if target == "localstack" and not _bootstrapped(env):
            _run([str(cli), "bootstrap", f"aws://{LOCAL_ACCOUNT}/{LOCAL_REGION}"], cwd=root, env=env, log=log)
        # No --outputs-file: the CDK CLI would overwrite the other projects' entries in the shared file.
        deploy_cmd = [str(cli), "deploy", stack_name, "-c", f"target={target}", "-c", f"build_label={label}"]
        _run([*deploy_cmd, "--require-approval", "never"], cwd=root, env=env, log=log)
        return _settled_outputs(env, stack_name, label, outputs_path(root, target))


def remove_local_stack(root: Path, *, config_file: Path | None = None, log: Callable[[str], None] = print) -> bool:
    """Delete the project's stack from local AWS, its buckets emptied first; False when it is not deployed.

    Local AWS only: there the buckets are destroyed with the stack (infra/targets.py), so emptying them
    loses nothing the stack would keep. On AWS the buckets are retained; use `cdk destroy` there.
    """
    config_file = config_file.resolve() if config_file else chosen_config()
    stack_name = load_config(config_file).stack_name
    env = cdk_environment(root, "localstack", LocalAws(root, log=log).endpoint)
    cfn = _cloudformation(env)
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError:
        return False
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    s3 = boto3.resource(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    for bucket in (outputs.get("DataBucket"), outputs.get("ModelsBucket")):
        if bucket:
            s3.Bucket(bucket).object_versions.delete()  # versions and delete markers, or plain objects
    log(f"deleting {stack_name} from local AWS")
    cfn.delete_stack(StackName=stack_name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    with one_cdk_at_a_time(root):
        forget_outputs(outputs_path(root, "localstack"), stack_name)
    return True


def forget_outputs(path: Path, stack_name: str) -> None:
    """Drop `stack_name`'s entry from the outputs file, keeping the other stacks' (the caller holds the lock)."""
    stacks = _read_outputs_file(path)
    if stacks.pop(stack_name, None) is not None:
        _write_outputs_file(path, stacks)


def _settled_outputs(
    env: dict[str, str], stack_name: str, label: str, path: Path, timeout_s: float = 60
) -> dict[str, Any]:
    """The stack's outputs once the deployed build is `label`, also recorded under its name in `path`.

    LocalStack can answer DescribeStacks with the previous deployment's outputs for a moment after
    an update: wait until the stack shows this build.
    """
    cfn, deadline = _cloudformation(env), time.monotonic() + timeout_s
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if outputs.get("BuildLabel") == label and not stack["StackStatus"].endswith("_IN_PROGRESS"):
            save_outputs(path, stack_name, outputs)
            return outputs
        if time.monotonic() > deadline:
            raise DeployError(
                f"{stack_name} still shows build {outputs.get('BuildLabel')!r} ({stack['StackStatus']}), "
                f"not {label!r}, {timeout_s:.0f} s after the deploy"
            )
        time.sleep(1)
