"""LocalStack Lambda runtime executor that runs functions as host processes (`LAMBDA_RUNTIME_EXECUTOR=process`)."""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Entry point LocalStack resolves by name; the executor itself is imported only when selected."""

    name = "process"

    def load(self, *args, **kwargs):
        from lambda_process_executor import polling  # noqa: PLC0415
        from lambda_process_executor.executor import ProcessRuntimeExecutor  # noqa: PLC0415

        # Loaded when the Lambda service starts, before any event-source mapping's worker.
        polling.install()
        return ProcessRuntimeExecutor
