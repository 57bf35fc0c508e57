"""The scoring function: CSV batches from incoming/ scored by the champion model, drift measured."""
