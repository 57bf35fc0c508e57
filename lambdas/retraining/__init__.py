"""The retraining function: starts a training run when a drift or accuracy alarm fires, or by hand."""
