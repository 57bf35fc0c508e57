"""Operator tooling: local AWS runner, deploy, data generation and the `mlops` CLI."""
