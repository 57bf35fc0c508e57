"""Logic shared by the Lambda functions, the training job and the CLI (bundled into every asset)."""
