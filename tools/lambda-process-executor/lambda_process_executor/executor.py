"""The executor LocalStack drives: one worker process group per Lambda execution environment.

Runs inside the LocalStack process. The worker (worker.py) stands in for LocalStack's init: it takes
invocations on a loopback socket this module opens for it and reports back to LocalStack's own
`ExecutorEndpoint` callbacks, exactly as the init in a Docker container does.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

LOG = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
LOOPBACK = "127.0.0.1"

_interpreters: dict[str, str] = {}
_interpreters_lock = threading.Lock()


def find_interpreter(runtime: str) -> str:
    """A Python interpreter of the runtime's version (python3.12 -> 3.12), cached once found.

    Looked up in `$LAMBDA_PROCESS_RUNTIMES_DIR/<runtime>/bin/python`, then `python3.X` on PATH,
    then pyenv's installs (newest first); every candidate is run to check it works and its version.
    """
    match = re.fullmatch(r"python(3\.\d+)", runtime or "")
    if not match:
        raise LambdaRuntimeException(
            f"Runtime {runtime} is not supported by the process executor: it runs python3.x runtimes only"
        )
    version = match.group(1)
    with _interpreters_lock:
        if runtime not in _interpreters:
            found = next((path for path in _candidates(runtime, version) if _is_python(path, version)), None)
            if found is None:
                raise LambdaRuntimeException(
                    f"No Python {version} interpreter for runtime {runtime}: install it "
                    f"(pyenv install {version}) or put python{version} on PATH"
                )
            LOG.info("Lambda runtime %s runs with %s", runtime, found)
            _interpreters[runtime] = found
        return _interpreters[runtime]


def _candidates(runtime: str, version: str) -> Iterator[str]:
    if runtimes_dir := os.environ.get("LAMBDA_PROCESS_RUNTIMES_DIR"):
        yield os.path.join(runtimes_dir, runtime, "bin", "python")
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        yield os.path.join(directory or ".", f"python{version}")
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installs = pyenv_root.glob(f"versions/{version}*/bin/python{version}")
    for path in sorted(installs, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parts[-3])], reverse=True):
        yield str(path)


def _is_python(path: str, version: str) -> bool:
    # pyenv shims exist for every installed version but fail unless that version is active.
    if not os.access(path, os.X_OK):
        return False
    try:
        probe = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            env=_base_environment(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0 and probe.stdout.strip() == version


def _base_environment() -> dict[str, str]:
    # A function sees AWS's variables, not LocalStack's (PYTHONPATH or VIRTUAL_ENV would break its interpreter).
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}


def _gateway_host() -> str:
    host = config.GATEWAY_LISTEN[0].host
    if host in ("", "0.0.0.0", "::"):
        return LOOPBACK
    return f"[{host}]" if ":" in host else host


class ProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a worker process (and its handler process) in a session of its own."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address=LOOPBACK)
        self.process: subprocess.Popen | None = None
        # The worker's own stdout/stderr, kept for get_logs() as long as this executor lives.
        self.output = tempfile.TemporaryFile(prefix=f"lambda-{id}-")  # noqa: SIM115

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        python = find_interpreter(self.function_version.config.runtime)
        sys_path = self._sys_path()
        # The executor opens the listening socket and hands it down: no port to pick, no race to lose.
        with socket.create_server((LOOPBACK, 0)) as listener:
            self.executor_endpoint.container_port = listener.getsockname()[1]
            self.process = subprocess.Popen(
                [python, str(WORKER), str(listener.fileno())],
                env=self._environment(env_vars, python, sys_path),
                cwd=sys_path[0],
                stdin=subprocess.DEVNULL,
                stdout=self.output,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # stop() kills the group: worker, handler and anything they started
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self._kill()
            raise

    def _wait_until_ready(self) -> None:
        startup = self.executor_endpoint.startup_future
        while not concurrent.futures.wait([startup], timeout=0.2).done:
            if self.process.poll() is not None:
                raise LambdaRuntimeException(
                    f"Lambda worker exited with code {self.process.returncode} during start-up:\n{self.get_logs()}"
                )
        self.executor_endpoint.wait_for_startup()

    def _environment(self, env_vars: dict[str, str], python: str, sys_path: list[str]) -> dict[str, str]:
        env = _base_environment()
        env["PATH"] = os.pathsep.join([os.path.dirname(python), env["PATH"]])  # like /var/lang/bin on AWS
        env.update({key: str(value) for key, value in env_vars.items()})
        # Reserved variables LocalStack sets for its container layout (/var/task, /var/runtime).
        env["LAMBDA_TASK_ROOT"] = sys_path[0]
        env["LAMBDA_RUNTIME_DIR"] = str(WORKER.parent)
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{self.function_version.config.runtime}"
        env["LAMBDA_PROCESS_SYS_PATH"] = os.pathsep.join(sys_path)  # read (and removed) by the handler process
        return env

    def _sys_path(self) -> list[str]:
        """Task root, then each layer's python dirs as AWS's /opt would hold them (a later layer wins)."""
        cfg = self.function_version.config
        layers = [Path(layer.code.get_unzipped_code_location()) for layer in reversed(cfg.layers)]
        site = Path("python", "lib", cfg.runtime, "site-packages")
        return [
            str(cfg.code.get_unzipped_code_location()),
            *(str(layer / site) for layer in layers),
            *(str(layer / "python") for layer in layers),
        ]

    def stop(self) -> None:
        self._kill()
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:
            LOG.debug("Error while stopping executor endpoint of environment %s: %s", self.id, e)

    def _kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        return _gateway_host()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{_gateway_host()}:{port}{self.executor_endpoint.get_endpoint_prefix()}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        # pread leaves the file offset alone: the worker shares it and keeps appending.
        fd = self.output.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        cfg = function_version.config
        if cfg.package_type != PackageType.Zip:
            raise LambdaRuntimeException("Container image functions are not supported by the process executor")
        find_interpreter(cfg.runtime)
        cfg.code.prepare_for_execution()
        for layer in cfg.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to undo: LocalStack owns the unzipped code and layers."""

    @classmethod
    def validate_environment(cls) -> bool:
        if not hasattr(os, "killpg"):
            LOG.warning("The process Lambda executor needs a POSIX system (process groups)")
            return False
        return True
