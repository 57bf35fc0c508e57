"""The training function: LocalStack's stand-in for the SageMaker training job (same entrypoint)."""
