"""`python -m mlopsctl` is the `mlops` command."""

from .cli import main

main()
