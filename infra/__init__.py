"""The CDK app's constructs: storage, scoring, training, monitoring, wired by one thin stack."""
