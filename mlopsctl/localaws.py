"""Local AWS on the host: LocalStack from PyPI with the project's process-based Lambda executor.

`LocalAws(root).up()` installs LocalStack in its own virtualenv (once), starts it on
127.0.0.1:4566 and waits for health; `down()` stops only what `up()` started, by PID, together
with every function process under it. If something already answers on the endpoint (a LocalStack
from docker compose, say), `up()` uses it instead of starting another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

HOST = "127.0.0.1"
PORT = 4566
ENDPOINT = f"http://{HOST}:{PORT}"  # the default; LocalAws(port=...) runs a second instance elsewhere
# LocalStack runs on the project's Python. localstack-core 4.13.1 is pinned: 4.14.0 starts on 3.12 but every
# S3, SQS, SNS, Lambda, KMS and CloudWatch call fails there (`from warnings import deprecated` is 3.13-only).
LOCALSTACK_PYTHON = "3.12"
RUNTIMES = ("3.12",)  # Lambda runtimes provisioned with boto3, as AWS ships them
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
ESM_POLL_INTERVAL_S = "0.05"  # see environment()
ESM_MAX_EMPTY_BACKOFF_S = "0.2"  # the longest wait after an empty poll (lambda_process_executor/polling.py)


class LocalAwsError(RuntimeError):
    """Local AWS could not be installed, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class Status:
    running: bool
    owned: bool  # started by this runner (so `down` will stop it)
    pid: int | None
    endpoint: str
    services: dict[str, str]

    def describe(self) -> str:
        if not self.running:
            return f"local AWS is not running ({self.endpoint})"
        owner = f"started by this project, pid {self.pid}" if self.owned else "external (not managed here)"
        return f"local AWS is running at {self.endpoint} ({owner})"


def find_python(version: str) -> Path:
    """An interpreter of `version` (e.g. "3.12"): python3.X on PATH if it runs, else under pyenv."""
    candidates: list[Path] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidates.append(Path(directory) / f"python{version}")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted((pyenv_root / "versions").glob(f"{version}*/bin/python{version}"), reverse=True)
    if sys.version.startswith(version + "."):
        candidates.insert(0, Path(sys.executable))
    for candidate in candidates:
        if not candidate.exists():
            continue
        # pyenv shims exist for every installed version but fail unless it is active: run it.
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise LocalAwsError(
        f"Python {version} not found: install it (e.g. `pyenv install {version}`) or put python{version} on PATH"
    )


def health(endpoint: str = ENDPOINT, timeout: float = 2.0) -> dict[str, str] | None:
    """LocalStack's service states, or None when nothing answers at `endpoint`."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as resp:  # noqa: S310
            return json.load(resp).get("services", {})
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _digest(*files: Path, python: str = "") -> str:
    h = hashlib.sha256(python.encode())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


class LocalAws:
    """Install, start, stop and inspect LocalStack on the host for the project at `root`."""

    def __init__(self, root: Path, *, port: int = PORT, run_dir: Path | None = None, log=print) -> None:
        self.root = root.resolve()
        self.port = port
        self.endpoint = f"http://{HOST}:{port}"
        self.home = self.root / ".local-aws"  # installs, shared by every instance
        self.venv = self.home / "venv"
        self.runtimes = self.home / "runtimes"
        self.run_dir = run_dir or self.home  # one instance's state, log and PID file
        self.state_dir = self.run_dir / "state"
        self.log_file = self.run_dir / "localstack.log"
        self.pid_file = self.run_dir / "localstack.pid"
        self.executor_dir = self.root / "tools" / "lambda-process-executor"
        self._log = log

    # ---------------------------------------------------------------- install
    def install(self) -> None:
        """Create LocalStack's virtualenv and the Lambda runtime venvs, unless already current."""
        requirements = self.root / "requirements-localstack.txt"
        stamp = self.venv / ".installed"
        # The interpreter is part of the stamp: a virtualenv made with another Python is made again.
        wanted = _digest(requirements, self.executor_dir / "pyproject.toml", python=LOCALSTACK_PYTHON)
        if not (stamp.exists() and stamp.read_text() == wanted):
            self._log(f"installing LocalStack into {self.venv.relative_to(self.root)} (once)...")
            self._make_venv(self.venv, LOCALSTACK_PYTHON)
            # --no-compile: byte-compiling every installed module (~10,000 .pyc) took 18 of 48 s here; Python
            # then compiles what LocalStack imports on first use (~3 s more on the first start only).
            self._pip(self.venv, "--no-compile", "-r", str(requirements), "-e", str(self.executor_dir))
            stamp.write_text(wanted)
        runtime_requirements = self.executor_dir / "runtime-requirements.txt"
        for version in RUNTIMES:
            venv = self.runtimes / f"python{version}"
            stamp = venv / ".installed"
            wanted = _digest(runtime_requirements)
            if not (stamp.exists() and stamp.read_text() == wanted):
                self._log(f"preparing the python{version} Lambda runtime (once)...")
                self._make_venv(venv, version)
                self._pip(venv, "-r", str(runtime_requirements))
                stamp.write_text(wanted)

    def _make_venv(self, venv: Path, version: str) -> None:
        python = find_python(version)
        subprocess.run([str(python), "-m", "venv", "--clear", str(venv)], check=True)

    def _pip(self, venv: Path, *args: str) -> None:
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalAwsError(f"pip install failed in {venv}:\n{result.stderr[-3000:]}")

    # ---------------------------------------------------------------- lifecycle
    def environment(self) -> dict[str, str]:
        """The LocalStack process's environment (see ../shared notes for why each is needed)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
        env.update(
            GATEWAY_LISTEN=f"{HOST}:{self.port}",
            LOCALSTACK_HOST=f"localhost:{self.port}",
            SQS_ENDPOINT_STRATEGY="path",
            DNS_ADDRESS="0",
            SKIP_SSL_CERT_DOWNLOAD="1",
            DISABLE_EVENTS="1",
            OVERRIDE_IN_DOCKER="0",
            FILESYSTEM_ROOT=str(self.state_dir),
            LAMBDA_RUNTIME_EXECUTOR="process",
            LAMBDA_PROCESS_RUNTIMES_DIR=str(self.runtimes),
            # AWS's SQS event sources poll continuously. LocalStack's defaults wait 1 s after every
            # batch and back off up to 10 s after an empty poll: measured here, that capped a burst
            # at ~60 files/min and added seconds to each file's latency. Polling an idle queue every
            # 0.1-0.3 s costs LocalStack little; the first wait is capped too (the executor's polling.py).
            LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC=ESM_POLL_INTERVAL_S,
            LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=ESM_MAX_EMPTY_BACKOFF_S,
        )
        return env

    def _owned_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.is_running() and "localstack.runtime.main" in " ".join(proc.cmdline()):
                return pid
        except psutil.Error:
            pass
        self.pid_file.unlink(missing_ok=True)  # stale: the process is gone or the PID was reused
        return None

    def status(self) -> Status:
        """Whether local AWS answers, and whether this runner started it."""
        services = health(self.endpoint)
        pid = self._owned_pid()
        return Status(services is not None, pid is not None, pid, self.endpoint, services or {})

    def up(self) -> Status:
        """Start local AWS unless it already runs; return once it is healthy."""
        current = self.status()
        if current.running:
            return current
        if current.owned:  # our process exists but does not answer yet: it is starting
            return self._wait_healthy(current.pid)
        self.install()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._log(f"starting LocalStack at {self.endpoint} (log: {self.log_file})")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [str(self.venv / "bin" / "python"), "-m", "localstack.runtime.main"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.run_dir,
                start_new_session=True,  # a Ctrl-C in the user's shell does not kill it
            )
        self.pid_file.write_text(str(proc.pid))
        return self._wait_healthy(proc.pid)

    def _wait_healthy(self, pid: int | None) -> Status:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if health(self.endpoint, timeout=1.0) is not None:
                return self.status()
            if pid is None or not psutil.pid_exists(pid):
                raise LocalAwsError(f"LocalStack exited during start-up; see {self.log_file}:\n{self._log_tail()}")
            time.sleep(0.25)
        raise LocalAwsError(f"LocalStack did not become healthy in {START_TIMEOUT_S} s; see {self.log_file}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def down(self) -> bool:
        """Stop the LocalStack this runner started, and every process under it. True if one was stopped."""
        pid = self._owned_pid()
        if pid is None:
            return False
        proc = psutil.Process(pid)
        descendants = proc.children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        # Function processes run in sessions of their own; stop any that outlived LocalStack.
        for child in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(descendants, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return True
