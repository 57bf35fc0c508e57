"""Each closed window of the endpoint's captured traffic, made one batch for the scoring pipeline."""
