"""Run the benchmarks (`make bench`) and write one table: bench/results/summary.md and summary.json.

First with local AWS stopped: in-process scoring (each example, clean and dirty), bundle sizes, the model
search's training time. Then on local AWS, which it starts fresh (its state is disposable): the demo's loop
timed (file -> alarm -> champion), end-to-end latency, warm invocations that score, the online endpoint
against its naive peer (in-process, over HTTP, through the deployed endpoint) and the load burst.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRTY = ",churn-dirty,iris-dirty,diabetes-dirty,reviews-dirty"  # bench/dirty.py
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "date": datetime.now(UTC).date().isoformat(),
    }


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def cold_start_row(cold: dict) -> tuple[str, str, str]:
    """The scoring function's cold start: its handler's imports (the goal), then the model's load."""
    return (
        "cold start, clean interpreter on the AWS bundle (best of 5): handler imports / model load, with the "
        "scikit-learn and scipy imports its pickle needs / both",
        f"{cold['imports_s']} / {cold['model_load_s']} / {cold['seconds']} s",
        "imports < 1.0 s",
    )


def rows(results: dict) -> list[tuple[str, str, str]]:
    """(measure, result, goal) lines of the table, from whatever results exist."""
    table = []
    if s := results.get("scoring"):
        t = s["throughput"]
        table += [
            (f"scoring throughput, {s['rows']:,}-row CSV in-process", f"{t['ours']['rows_per_s']:,} rows/s", ""),
            (
                "... vs raw baseline (csv module + predict_proba + write)",
                f"{s['ratio_vs_baseline']}x ({t['baseline']['rows_per_s']:,} rows/s)",
                ">= 0.9x",
            ),
            (
                "... vs naive pandas peer (read_csv, predict, to_csv)",
                f"{s['ratio_vs_pandas']}x ({t['pandas']['rows_per_s']:,} rows/s)",
                ">= 1.2x",
            ),
            *stream_rows(t),
            (
                f"peak memory, {s['memory_mb']['small_rows']:,} -> {s['rows']:,} rows",
                f"{s['memory_mb']['ours_small']} -> {s['memory_mb']['ours_large']} MB ({s['memory_ratio']}x)",
                "<= 1.2x, < 300 MB",
            ),
            cold_start_row(s["cold_start_s"]),
        ]
        if profile := s.get("profile"):
            top = ", ".join(f"`{name.removeprefix('~:')}` {seconds} s" for name, seconds in profile["top"])
            table.append((f"... where ours spends it (cProfile, {profile['seconds']} s under it): top five", top, ""))
        for name, example in s.get("examples", {}).items():  # churn's lines are the ones above
            table += example_rows(name, example) if name != "churn" else []
    if e := results.get("e2e"):
        lat = e["latency_s"]
        table += [
            (
                f"warm invocation of the scoring function, each on a new {e['rows_per_file']:,}-row file it scores "
                "(round trip)",
                f"median {e['warm_scoring_s']['median']} s, max {e['warm_scoring_s']['max']} s "
                f"({e['warm_scoring_s']['files']} files)",
                "",
            ),
            (
                f"end-to-end latency, {e['rows_per_file']:,}-row file -> predictions",
                f"p50 {lat['median']} s, p95 {lat['p95']} s",
                "p50 <= 1.0 s",
            ),
            ("the demo's drifted file: PUT -> drift alarm seen", f"{e['file_to_alarm_s']} s", ""),
            ("... drift alarm seen -> new champion promoted", f"{e['alarm_to_champion_s']} s", ""),
        ]
    if ld := results.get("load"):
        for run in ld["runs"]:
            setting = run["reserved_concurrency"]
            table.append(
                (
                    f"load: {run['files']} files ({run['rows']:,} rows), reserved concurrency {setting}",
                    f"{run['files_per_min']} files/min, {run['rows_per_s']:,} rows/s; "
                    f"lost {run['lost']}, DLQ {run['dead_lettered']}",
                    "lost 0, DLQ 0",
                )
            )
    table += online_rows(results.get("online"))
    table += search_rows(results.get("search"))
    table += search_rows(results.get("search-reviews"))
    if b := results.get("bundle"):
        table += [
            (
                f"bundle: {name} (AWS, unzipped / zipped)",
                f"{v['unzipped_mb']} / {v['zipped_mb']} MB",
                "layer + code < 250 MB unzipped",
            )
            for name, v in b.items()
            if isinstance(v, dict)
        ]
    return table


def online_rows(o: dict | None) -> list[tuple[str, str, str]]:
    """POST /predict, warm (bench_online.py): ours in-process with and without the capture, the naive FastAPI
    peer's route in-process and over HTTP, through local AWS when measured; the cold starts; the profile."""
    if not o:
        return []
    one, hundred, cold = o["sizes"]["1"], o["sizes"]["100"], o["cold_start_s"]

    def in_process(sizes: dict) -> str:
        keys = ("ours", "ours_respond", "peer")
        return (
            f"p50 {' / '.join(str(sizes[k]['p50_ms']) for k in keys)} ms; "
            f"p99 {' / '.join(str(sizes[k]['p99_ms']) for k in keys)} ms"
        )

    def over_http(key: str) -> str:
        a, b = one[key], hundred[key]
        return (
            f"p50 {a['p50_ms']} / {b['p50_ms']} ms, p99 {a['p99_ms']} / {b['p99_ms']} ms, "
            f"{a['requests_per_s']:,.0f} / {b['requests_per_s']:,.0f} requests/s"
        )

    label = "ours (handler, capture to moto S3) / ours without capture / naive FastAPI peer's route"
    table = [
        (f"online /predict in-process, 1 record: {label}", in_process(one), "ours p50 <= peer p50; p99 < 50 ms"),
        (f"online /predict in-process, 100 records: {label}", in_process(hundred), "p99 < 50 ms"),
        ("... the peer over HTTP (uvicorn, loopback, kept-alive client): 1 / 100 records", over_http("peer_http"), ""),
    ]
    if "endpoint" in one:
        table.append(
            (
                "... ours through local AWS (API Gateway -> Lambda on LocalStack): 1 / 100 records",
                over_http("endpoint"),
                "",
            )
        )
    ours, peer = cold["ours"], cold["peer"]
    table.append(
        (
            "online cold start, clean process: ours (imports + endpoint + model load) / the peer (imports + load)",
            f"{ours['seconds']} s ({ours['imports_s']} + {ours['endpoint_s']} + {ours['model_load_s']}) / "
            f"{peer['seconds']} s ({peer['imports_s']} + {peer['model_load_s']})",
            "< 1.5 s",
        )
    )
    top = ", ".join(f"`{name}` {ms}" for name, ms in o["profile"]["ours_cumulative_ms"][:8])
    table.append(("... where ours spends a 1-record request (cProfile, cumulative ms/request): our top eight", top, ""))
    return table


def search_rows(s: dict | None) -> list[tuple[str, str, str]]:
    """The model search's training time with its number of fits (bench_search.py), beside a single model's."""
    if not s:
        return []
    found = s["search"]
    board = "; ".join(
        f"{e['name']} {e['mean']:.4f} ± {e['std']:.4f} ({e['fits']} fits, {e['seconds']:.1f} s)"
        for e in found["leaderboard"]
    )
    data = "reviews (examples/reviews" if s.get("example") == "reviews" else "churn rows (examples/custom-pipeline"
    # The single model is the default project's on the churn rows: beside the churn search only.
    single = "" if s.get("example") == "reviews" else f"; one model: {s['single']['timings']['total_s']:.1f} s"
    return [
        (
            f"training with a model search, {s['rows']:,} {data}, "
            f"{found['cv_folds']}-fold CV, {s.get('openmp_threads', 'all')} OpenMP thread(s) per fit)",
            f"{found['timings']['total_s']:.1f} s for {found['fits']} fits (CV {found['cv_seconds']:.1f} s, "
            f"refit {found['refit_seconds']:.1f} s)" + single,
            "",
        ),
        (f"... leaderboard ({found['metric']}, mean ± spread over the folds)", board, ""),
    ]


def stream_rows(t: dict) -> list[tuple[str, str, str]]:
    """The per-row path alone (ours without the end-of-batch drift verdict) against the same peer."""
    o, p = t["ours"], t["pandas"]
    if "stream_s" not in o:
        return []
    return [
        (
            "... of which the rows (parse to write, drift counts) / the batch's drift verdict (fixed per batch)",
            f"{o['stream_s']:.2f} s / {o['verdict_s']:.2f} s; the rows alone: {p['seconds'] / o['stream_s']:.3f}x "
            "of pandas",
            "",
        )
    ]


def example_rows(name: str, e: dict) -> list[tuple[str, str, str]]:
    """An example's scoring lines (bench_scoring.py --examples): ours, and the naive pandas peer on the same file."""
    o, p = e["throughput"]["ours"], e["throughput"]["pandas"]
    peer = "predict_proba" if e["task"] != "regression" else "predict"
    if blanks := e.get("blanks"):  # churn-blanks: ahead of the peer is its goal (issue 23)
        name += f", {blanks['share']:.0%} of {', '.join(blanks['features'])} blank"
    return [
        (
            f"scoring throughput, {name} ({e['task']}), {e['rows']:,}-row CSV ({e['file_mb']} MB) in-process",
            f"{o['rows_per_s']:,} rows/s, {o['mb_per_s']} MB/s ({o['seconds']:.2f} s); peak {o['peak_rss_mb']} MB",
            "",
        ),
        (
            f"... vs naive pandas peer (read_csv, {peer}, to_csv)",
            f"{e['ratio_vs_pandas']}x ({p['rows_per_s']:,} rows/s, {p['mb_per_s']} MB/s, {p['seconds']:.2f} s; "
            f"peak {p['peak_rss_mb']} MB)",
            "> 1x" if blanks else ">= 1.2x",
        ),
        *stream_rows(e["throughput"]),
        *memory_rows(e),
        *clean_rows(e),
        *report_rows(e),
    ]


def report_rows(e: dict) -> list[tuple[str, str, str]]:
    """A dirty variant (bench/dirty.py): the bad rows ours reported against those written, and what the peer
    scored (it reports nothing)."""
    r = e.get("reports")
    if not r:
        return []
    return [
        (
            "... bad rows: written / reported by ours, each with its reason; rows the peer scored, silently",
            f"{r['bad_rows_expected']:,} / {r['bad_rows_ours']:,}; {r['pandas_rows_scored']:,} of {e['rows']:,}",
            "reports exact",
        )
    ]


def clean_rows(e: dict) -> list[tuple[str, str, str]]:
    """churn-blanks: ours against ours on the same rows without blanks (same run), where its time goes, and
    how it was measured."""
    c, load = e.get("clean"), e.get("load_average")
    if not c or not load:
        return []
    top = ", ".join(f"`{name.removeprefix('~:')}` {seconds} s" for name, seconds in e["profile"]["top"])
    return [
        (
            "... ours with blanks / ours on churn's batch without them (the same rows, same run): "
            "default project; imputing model",
            f"{e['ratio_vs_clean_ours']}x ({c['ours']['rows_per_s']:,} rows/s); "
            f"{e['ratio_vs_clean_ours_imputing_model']}x ({c['ours_imputing_model']['rows_per_s']:,} rows/s); "
            f"the rows alone: {e['stream_ratio_vs_clean_ours']}x of the default project's",
            ">= 0.9x",
        ),
        (f"... where ours spends it (cProfile, {e['profile']['seconds']} s under it): top five", top, ""),
        (
            "... how it was measured (the machine's load while measuring: other work shows above 1)",
            f"load average (1 min) {load['before'][0]} before, {load['after'][0]} after; {e['openmp_threads']} "
            f"OpenMP thread(s) per process; best of {len(e['throughput']['ours']['runs_s'])} runs, the four "
            "taking turns",
            "",
        ),
    ]


def memory_rows(e: dict) -> list[tuple[str, str, str]]:
    """Peak memory at a tenth of the rows and at all of them (measured for the text example)."""
    m = e.get("memory_mb")
    if not m:
        return []
    growth = f"{m['ours_small']} -> {m['ours_large']} MB ({e['memory_ratio']}x)"
    return [(f"... peak memory, {m['small_rows']:,} -> {e['rows']:,} rows", growth, "<= 1.2x, < 1 GB")]


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_gb']} GB), Python {m['python']}, "
        f"{m['os']}, by `make bench` (`bench/run.py`; each script's own command in its docstring).",
        *(
            f"The {name} rows are carried over from the previous summary (measured {date}; no {name}.json here)."
            for name, date in summary.get("carried", {}).items()
        ),
        *scoring_dates(summary["results"].get("scoring") or {}),
        "",
        "| measure | result | goal |",
        "|---|---|---|",
    ]
    lines += [f"| {measure} | {result} | {goal} |" for measure, result, goal in summary["table"]]
    return "\n".join(lines) + "\n"


def scoring_dates(scoring: dict) -> list[str]:
    """A line naming when each example's scoring rows were measured, when not all on one day (the default
    project's rows go with its example, churn)."""
    days: dict[str, list[str]] = {}
    for name, example in scoring.get("examples", {}).items():
        days.setdefault(example.get("date", "an unknown day"), []).append(name)
    if len(days) < 2:
        return []
    return [
        "The in-process scoring rows were measured on their own days: "
        + "; ".join(f"{', '.join(names)} {day}" for day, names in sorted(days.items()))
        + "."
    ]


def main() -> int:
    """In-process measurements with local AWS stopped (its pollers add noise on 2 cores), then the local AWS ones
    on a fresh stack: bench_e2e runs the demo, which the online endpoint and the load burst then use."""
    python, bench = sys.executable, ROOT / "bench"
    if "--table-only" in sys.argv:  # rebuild the table from the results already measured
        return write_summary()
    mlops = [python, "-m", "mlopsctl"]
    subprocess.run([*mlops, "down"], check=False)
    status = 0
    for command in (
        ["bench_scoring.py", "--examples", "churn,iris,diabetes,reviews,churn-blanks" + "".join(DIRTY)],
        ["bench_bundle.py"],
        ["bench_search.py"],
        ["bench_search.py", "--example", "reviews"],
        ["bench_e2e.py"],  # `mlops demo` on a fresh stack, then its own files
        ["bench_online.py", "--endpoint", "stack"],  # in-process, and through the demo stack's endpoint if it has one
        ["bench_load.py"],
    ):
        status |= subprocess.run([python, str(bench / command[0]), *command[1:]], check=False).returncode
    subprocess.run([*mlops, "down"], check=False)
    return status | write_summary()


def write_summary() -> int:
    """The table from the results files; a measurement whose file is absent (results files are not committed,
    only the summary is) is carried over from the previous summary, with the date it was measured."""
    previous = load("summary") or {}
    results, carried = {}, {}
    for name in ("scoring", "e2e", "load", "bundle", "search", "search-reviews", "online"):
        if r := load(name):
            results[name] = r
        elif r := previous.get("results", {}).get(name):
            results[name] = r
            carried[name] = previous.get("carried", {}).get(name, previous["machine"]["date"])
    summary = {"machine": machine(), "table": rows(results), "results": results, "carried": carried}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    (RESULTS / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
