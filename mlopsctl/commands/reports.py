"""What happened, shown: report, demo."""

from __future__ import annotations

from pathlib import Path

import typer

from ..demo import run_demo
from ..report import build_report
from . import common
from .common import TargetOption
from .tracking import keeps_mlflow_current

app = typer.Typer()


@app.command()
def report(
    out: Path = typer.Option(Path("mlops-report"), help="local folder for the HTML and PNGs"),
    target: str = TargetOption,
) -> None:
    """Build the HTML drift report (PNG charts), store it under reports/html/ and locally."""
    pipeline = common.connect(target)
    index = build_report(pipeline, out)
    typer.echo(f"report: {index.resolve()} (also under s3://{pipeline.data_bucket}/reports/html/)")


@app.command()
@keeps_mlflow_current
def demo(report_dir: Path = typer.Option(Path("mlops-report"), help="where the drift report goes")) -> None:
    """The whole loop on local AWS: deploy, train, score clean and drifted data, retrain, promote."""
    typer.echo("demo: the whole loop on local AWS (no Docker, no account)")
    result = run_demo(common.ROOT, echo=typer.echo, progress=common.progress, report_dir=report_dir)
    typer.echo(f"\ndone in {result['timeline'][-1][0]:.0f} s; champion {result['champion']}")
    typer.echo(f"predictions: s3://{result['outputs']['bucket']}/predictions/demo/")
    typer.echo(f"drift report: {result['outputs']['report']}")
    typer.echo("next: `mlops status`, `mlops score FILE`, `mlops report`; `make down` stops local AWS")
