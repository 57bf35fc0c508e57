"""One Lambda execution environment on the host. Standard library only: runs under the function's Python (3.9+).

    worker.py <socket-fd>                 the worker, standing in for LocalStack's init (a fork of AWS's RIE)
    worker.py --child <in-fd> <out-fd>    the handler process: imports the handler once, then runs invocations

The worker serves `POST /invoke` on the listening socket it inherits, posts `status/<id>/ready` (or
`/error` with the init error) to LOCALSTACK_RUNTIME_ENDPOINT and, per invocation, the logs and then
the response or error. The handler runs in a child process so that a timeout can kill it; the next
invocation then starts a new one (a cold start).
"""

from __future__ import annotations

import contextlib
import http.server
import importlib
import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

PARENT_POLL_S = 0.25
READ_SIZE = 1 << 16
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def exit_with_parent() -> None:
    """Kill this process group once our parent is gone: nothing outlives LocalStack, even a SIGKILLed one."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def error_body(error_type: str, message: str, request_id: str = "", stack: list[str] | None = None) -> bytes:
    """An error in the shape AWS's Python runtime reports."""
    error = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack or []}
    return json.dumps(error).encode()


# ---------------------------------------------------------------------------------------------- worker


class HandlerProcess:
    """The child process that holds the imported handler; its stdout and stderr are the function's logs."""

    def __init__(self) -> None:
        requests_r, requests_w = os.pipe()
        self.results, results_w = os.pipe()
        self.output, output_w = os.pipe()
        self.process = subprocess.Popen(
            # Unbuffered (-u): what the function wrote reaches the logs even if a timeout kills it mid-line.
            [sys.executable, "-u", os.path.abspath(__file__), "--child", str(requests_r), str(results_w)],
            stdin=subprocess.DEVNULL,
            stdout=output_w,
            stderr=subprocess.STDOUT,
            pass_fds=(requests_r, results_w),
        )
        for fd in (requests_r, results_w, output_w):
            os.close(fd)
        self.requests = os.fdopen(requests_w, "wb")
        self.exited = False

    def send(self, message: dict) -> None:
        try:
            self.requests.write(json.dumps(message).encode() + b"\n")
            self.requests.flush()
        except BrokenPipeError:
            self.exited = True

    def receive(self, deadline: float | None) -> tuple[dict | None, str]:
        """The next message and the output written before it; None once the deadline passes or the process exits."""
        message, output = bytearray(), bytearray()
        watched = [self.results, self.output]
        while not self.exited and not message.endswith(b"\n"):
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select(watched, [], [], timeout)
            if not readable:
                break
            if self.output in readable:
                chunk = os.read(self.output, READ_SIZE)
                output += chunk
                if not chunk:  # the process closed its stdout and stderr: only wait for its message now
                    watched.remove(self.output)
            if self.results in readable:
                chunk = os.read(self.results, READ_SIZE)
                message += chunk
                self.exited = not chunk
        # The output pipe holds whatever the process wrote before its message: take it all.
        while select.select([self.output], [], [], 0)[0] and (chunk := os.read(self.output, READ_SIZE)):
            output += chunk
        if output and not output.endswith(b"\n"):
            output += b"\n"  # our own log lines start on a line of their own
        return (json.loads(message) if message.endswith(b"\n") else None), output.decode(errors="replace")

    def max_memory_mb(self) -> int | None:
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return -(-int(line.split()[1]) // 1024)
        except OSError:
            pass
        return None

    def kill(self) -> int:
        if self.exited:  # on its way out already (sys.exit, say): let it report its own exit status
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
        self.process.kill()
        code = self.process.wait()
        for fd in (self.results, self.output):
            os.close(fd)
        with contextlib.suppress(BrokenPipeError):
            self.requests.close()
        return code


class Environment:
    """The worker's state: the handler process (if one runs) and what LocalStack needs to hear about."""

    def __init__(self) -> None:
        self.endpoint = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"]
        self.runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
        self.timeout = int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.memory_size = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.handler: HandlerProcess | None = None
        self.init_output = ""  # goes before the next START line, as AWS logs a cold start
        self.init_ms: float | None = None  # reported by the next REPORT line

    def post(self, path: str, body: bytes) -> None:
        url = self.endpoint + path  # LocalStack's http:// runtime endpoint
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
        with NO_PROXY.open(request, timeout=30):
            pass

    def start_handler(self, deadline: float | None, request_id: str = "") -> bytes | None:
        """Start a handler process and let it import the handler; the init error if that failed."""
        started = time.monotonic()
        self.handler = HandlerProcess()
        message, output = self.handler.receive(deadline)
        self.init_output += output
        self.init_ms = (time.monotonic() - started) * 1000
        if message is None:
            error, log_line = self.lose_handler(request_id)
            self.init_output += log_line
            return error
        if not message["ok"]:
            self.handler.kill()
            self.handler = None
            return message["body"].encode()
        return None

    def lose_handler(self, request_id: str) -> tuple[bytes, str]:
        """Kill the handler process after a timeout or a crash: the error to report and the line to log."""
        handler, self.handler = self.handler, None
        exited = handler.exited
        code = handler.kill()
        if exited:
            status = f"exit status {code}" if code >= 0 else f"signal: {signal.Signals(-code).name}"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
            return error_body("Runtime.ExitError", message, request_id), message + "\n"
        # The shape LocalStack's init reports (AWS logs the same line).
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = f"{stamp} {request_id} Task timed out after {self.timeout}.00 seconds"
        return json.dumps({"errorMessage": message}).encode(), message + "\n"

    def invoke(self, request: dict) -> None:
        request_id = request["invoke-id"]
        started = time.monotonic()
        deadline = started + self.timeout
        if self.handler is not None and self.handler.process.poll() is not None:
            # It died between invocations (killed, out of memory): as on AWS, this invocation gets a fresh one.
            self.handler.kill()
            self.handler = None
        # After a timeout or a crash, the init of a new handler process is part of this invocation.
        init_error = self.start_handler(deadline, request_id) if self.handler is None else None
        logs = self.init_output + f"START RequestId: {request_id} Version: {self.version}\n"
        self.init_output = ""
        body, failed, memory_mb = init_error, init_error is not None, None
        if not failed:
            deadline_ms = int((time.time() + deadline - time.monotonic()) * 1000)
            self.handler.send({**request, "deadline-ms": deadline_ms})
            message, output = self.handler.receive(deadline)
            logs += output
            memory_mb = self.handler.max_memory_mb()
            if message is None:
                body, log_line = self.lose_handler(request_id)
                logs += log_line
                failed = True
            else:
                body, failed = message["body"].encode(), not message["ok"]
        duration_ms = min(time.monotonic() - started, self.timeout) * 1000
        init = f"Init Duration: {self.init_ms:.2f} ms\t" if self.init_ms is not None else ""
        self.init_ms = None
        logs += (
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {-(-duration_ms // 1):.0f} ms\tMemory Size: {self.memory_size} MB\t"
            f"Max Memory Used: {memory_mb or self.memory_size} MB\t{init}\n"
        )
        self.post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        self.post(f"/invocations/{request_id}/{'error' if failed else 'response'}", body)


class InvokeHandler(http.server.BaseHTTPRequestHandler):
    """Accepts LocalStack's `POST /invoke` and queues it; results go back through the callbacks."""

    def do_POST(self) -> None:
        if self.path != "/invoke":
            self.send_error(404)
            return
        self.server.invocations.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a log line."""


def run_worker(listen_fd: int) -> None:
    exit_with_parent()
    environment = Environment()
    server = http.server.HTTPServer(("127.0.0.1", 0), InvokeHandler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=listen_fd)  # already bound and listening: the executor made it
    server.invocations = queue.Queue()
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()

    error = environment.start_handler(deadline=None)
    if error is not None:
        sys.stderr.write(environment.init_output)  # LocalStack shows it as the environment's logs
        sys.stderr.flush()
        environment.post(f"/status/{environment.runtime_id}/error", error)
        return
    environment.post(f"/status/{environment.runtime_id}/ready", b"{}")
    while True:
        request = server.invocations.get()
        try:
            environment.invoke(request)
        except Exception:
            traceback.print_exc()


# ------------------------------------------------------------------------------------- handler process


class RequestIdFilter(logging.Filter):
    """Stamps log records with the current request id, as AWS's log format has it."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class LambdaContext:
    """The handler's `context` argument, with what AWS's Python runtime provides."""

    def __init__(self, request: dict) -> None:
        self.aws_request_id = request["invoke-id"]
        self.invoked_function_arn = request["invoked-function-arn"]
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline-ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def user_error(exc: BaseException, request_id: str) -> bytes:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
    return error_body(type(exc).__name__, str(exc), request_id, traceback.format_list(frames))


def log_error(body: bytes) -> None:
    error = json.loads(body)
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}", "Traceback (most recent call last):"]
    sys.stderr.write("\n".join(lines + [line.rstrip("\n") for line in error["stackTrace"]]) + "\n")


def load_handler(spec: str) -> tuple[object, bytes | None]:
    """Import the `module.function` named by _HANDLER: the function, or the init error AWS would report."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        return None, error_body("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        return None, error_body("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    except SyntaxError as e:
        return None, error_body("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}")
    except Exception as e:
        return None, user_error(e, "")
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, error_body("Runtime.HandlerNotFound", message)
    return handler, None


def run_invocation(handler, request: dict, request_ids: RequestIdFilter) -> dict:
    request_id = request_ids.request_id = request["invoke-id"]
    os.environ["_X_AMZN_TRACE_ID"] = request.get("trace-id") or ""
    try:
        result = handler(json.loads(request["payload"] or "{}"), LambdaContext(request))
    except Exception as e:
        error = user_error(e, request_id)
    else:
        try:
            return {"ok": True, "body": json.dumps(result)}
        except (TypeError, ValueError) as e:
            error = error_body("Runtime.MarshalError", f"Unable to marshal response: {e}", request_id)
    log_error(error)
    return {"ok": False, "body": error.decode()}


def run_handler_process(requests_fd: int, results_fd: int) -> None:
    exit_with_parent()
    results = os.fdopen(results_fd, "wb")

    def reply(message: dict) -> None:
        results.write(json.dumps(message).encode() + b"\n")
        results.flush()

    # The task root and layers, as AWS orders them, in place of this file's own directory.
    own_dir = os.path.dirname(os.path.abspath(__file__))
    prefix = os.environ.pop("LAMBDA_PROCESS_SYS_PATH", "").split(os.pathsep)
    sys.path[:] = [p for p in prefix if p] + [p for p in sys.path if p != own_dir]

    request_ids = RequestIdFilter()
    log_handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    log_handler.setFormatter(formatter)
    log_handler.addFilter(request_ids)
    logging.getLogger().addHandler(log_handler)

    handler, error = load_handler(os.environ.get("_HANDLER", ""))
    if error is not None:
        log_error(error)
        reply({"ok": False, "body": error.decode()})
        return
    reply({"ok": True})
    with os.fdopen(requests_fd, "rb") as requests:
        for line in requests:
            reply(run_invocation(handler, json.loads(line), request_ids))


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        run_handler_process(int(sys.argv[2]), int(sys.argv[3]))
    else:
        run_worker(int(sys.argv[1]))
