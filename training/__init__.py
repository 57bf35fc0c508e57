"""The training job: `python -m training` (SageMaker container or by hand) and the training Lambda."""
