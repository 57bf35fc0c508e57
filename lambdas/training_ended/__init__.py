"""The training-ended function: a training run that ended without reporting (a timeout, out of memory, a
SageMaker job stopped or failed before the job's own code could say so) is marked failed, its lock released,
and `TrainingFailures` published and people told."""
