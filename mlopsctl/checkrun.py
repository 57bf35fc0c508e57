"""Running the model check (mlopsctl/modelcheck.py) in a child process, and reading what it found.

The child is a fresh, isolated interpreter (`python -I`: no current directory, no PYTHONPATH on its
path, so a model that loads there needs no more code than the scoring layer has) in a session of its
own, with a memory limit it sets on itself and a timeout after which its whole process group is
killed. It writes its result into a temporary folder; its own stdout and stderr (and whatever the
model's code prints) go to a file whose tail is shown when it fails. Nothing the child writes is
trusted: the result must be a JSON object of the expected shape and the predictions a plain numpy
array (no pickle) of one row per reference row.

The child gets none of the operator's credentials: of the environment only the variables in
CHILD_VARIABLES (no AWS_* variable, no other cloud's or tool's token), and a fresh, empty HOME, so
~/.aws and the other dotfiles are not where it looks. That is all: it is not a sandbox. It runs as the
same user, on the same file system, with the same network (an instance's metadata service included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_core.config.task import Task
from mlops_core.modeling.predictions import Predictions, class_predictions

from . import modelcheck
from .stack import OpsError

MAX_RESULT_BYTES = 1 << 20
TAIL_CHARS = 1500
# What the child keeps of the environment: the locale, the time zone, where temporary files go, and how
# many threads numerical libraries start. None of them holds a credential; everything else is dropped.
CHILD_VARIABLES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


class ModelCheckError(OpsError):
    """The model did not pass its check, or the check itself could not finish; nothing was registered."""


@dataclass(frozen=True)
class CheckedModel:
    """What the child found about a model that passed: its task (with its classes), its predictions on the
    reference rows, the library versions its file names, its class (and a pipeline's steps)."""

    task: Task
    predictions: Predictions
    pickled: dict[str, Any]
    model: dict[str, Any]
    reference_sha256: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelChecker:
    """Checks a model file on reference rows in a child process (see the module's docstring)."""

    layer_sklearn: str  # the scoring layer's scikit-learn version (lambdas/requirements.txt)
    timeout_s: float = 300
    max_memory_mb: int = 4096  # the child's address space: a runaway model fails there, not on the machine
    import_paths: tuple[Path, ...] = ()  # folders of code the scoring layer also has (none by default)

    def check(self, model: Path, reference: Path, *, config_file: Path, rows: int) -> CheckedModel:
        """The model's check on `rows` reference rows; ModelCheckError when it fails or cannot finish."""
        with tempfile.TemporaryDirectory(prefix="mlops-modelcheck-") as folder:
            out = Path(folder)
            try:
                return _findings(out, self._run(self._command(model, reference, config_file, out), out), rows)
            except ModelCheckError as exc:
                raise ModelCheckError(f"{model.name} was not registered: {exc}", exc.hint) from exc

    def _command(self, model: Path, reference: Path, config_file: Path, out: Path) -> list[str]:
        paths = [arg for path in self.import_paths for arg in ("--path", str(path))]
        return [
            sys.executable,
            "-I",
            "-m",
            modelcheck.__name__,
            str(model.resolve()),
            str(reference.resolve()),
            *("--config", str(config_file), "--layer-sklearn", self.layer_sklearn, "--out", str(out)),
            *("--max-memory-mb", str(self.max_memory_mb), *paths),
        ]

    def _run(self, command: list[str], out: Path) -> int:
        """The child's exit status (negative: the signal that ended it); ModelCheckError on timeout."""
        with (out / "output.txt").open("wb") as output:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=child_environment(home=out / "home"),
            )
            try:
                return child.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the child's own session: it and whatever it started
                child.wait()
        raise ModelCheckError(
            f"the model check did not finish within {self.timeout_s:g} s (loading the model and predicting the "
            f"reference rows); it was stopped{_tail(out)}",
            "a model that takes this long would time out in scoring too; or allow more with --timeout",
        )


def child_environment(*, home: Path) -> dict[str, str]:
    """The child's environment: CHILD_VARIABLES as they are here, and HOME an empty folder made at `home`."""
    home.mkdir()
    return {**{name: os.environ[name] for name in CHILD_VARIABLES if name in os.environ}, "HOME": str(home)}


def _findings(out: Path, status: int, rows: int) -> CheckedModel:
    """What the child found about a model that passed; ModelCheckError with its problem otherwise."""
    result = _result(out, status)
    if not result["ok"]:
        raise ModelCheckError(str(result.get("message")), str(result.get("fix", "")))
    try:
        return _checked(result, np.load(out / modelcheck.PREDICTIONS, allow_pickle=False), rows, out)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unusable(f"{type(exc).__name__}: {exc}", out) from exc


def _result(out: Path, status: int) -> dict[str, Any]:
    """The child's result; ModelCheckError when it crashed or left no usable result."""
    if status != 0:
        how = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
        why = " (out of memory?)" if status == -signal.SIGKILL else ""
        raise ModelCheckError(
            f"the model check crashed with {how}{why} while loading or running the model{_tail(out)}",
            "the model file's own code ended the process: load it with joblib.load in a fresh Python to see why",
        )
    path = out / modelcheck.RESULT
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError("too large")
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
            raise ValueError("not a result")
    except (OSError, ValueError) as exc:
        raise _unusable(str(exc), out) from exc
    return result


def _unusable(why: str, out: Path) -> ModelCheckError:
    return ModelCheckError(
        f"the model check ended without a usable result ({why}){_tail(out)}",
        "the model file's own code interfered with the check: load it with joblib.load in a fresh Python",
    )


def _checked(result: dict[str, Any], values: np.ndarray, rows: int, out: Path) -> CheckedModel:
    """The child's findings, if its predictions have the shape its task says."""
    task = Task.from_schema(result["task"])
    expected = (rows, len(task.classes)) if task.is_classification else (rows,)
    if values.shape != expected or values.dtype != np.float64:
        raise _unusable(f"predictions of shape {values.shape}, expected {expected}", out)
    predictions = class_predictions(task, values) if task.is_classification else Predictions(values, None)
    return CheckedModel(
        task=task,
        predictions=predictions,
        pickled=result["pickled"],
        model=result["model"],
        reference_sha256=result["reference"]["sha256"],
        notes=list(result.get("notes", [])),
    )


def _tail(out: Path) -> str:
    """The end of what the child printed, for the message: `; it printed: ...` ("" when nothing)."""
    try:
        with (out / "output.txt").open("rb") as output:
            output.seek(0, os.SEEK_END)
            output.seek(max(0, output.tell() - TAIL_CHARS))
            text = output.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f"; it printed: ...{text[-TAIL_CHARS:]}" if text else ""
