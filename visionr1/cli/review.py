"""``visionr1 review``: evaluation runs and training mixes in FiftyOne."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionr1.cli import console
from visionr1.errors import VisionR1Error

app = typer.Typer(help="Look at predictions and training data in FiftyOne (needs the 'review' extra).",
                  no_args_is_help=True, rich_markup_mode="markdown")

Name = Annotated[str | None, typer.Option(help="Dataset name (default: derived from the folder); an existing "
                                               "dataset of that name is replaced.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Also write the summary to this JSON file.")]


def _finish(summary: dict, table, json_out: Path | None) -> None:
    from visionr1.io import write_json

    console.out.print(table)
    for reason, n in summary.get("skipped", {}).items():
        console.out.print(f"skipped {n} {reason}", soft_wrap=True)
    if json_out:
        write_json(json_out, summary, indent=2)
    console.out.print(f"open it: visionr1 review app {summary['dataset']}")


@app.command("eval")
def eval_cmd(run_dir: Annotated[Path, typer.Argument(help="Output folder of `visionr1 eval` (coco, odinw, ood, "
                                                          "rec or custom).")],
             name: Name = None,
             compare: Annotated[list[Path] | None, typer.Option(help="Another run of the same sets (repeatable), "
                                                                   "side by side.")] = None,
             json_out: JsonOut = None) -> None:
    """Images, ground truth, each run's boxes, per-sample reward terms (paper preset) and failure-mode tags
    (format_error, missed, duplicate, low_iou, wrong_label), with per-box TP/FP/FN."""
    from rich.table import Table

    from visionr1.review.datasets import load_eval_runs, review_eval
    from visionr1.review.failures import FAILURE_MODES

    loaded = load_eval_runs([run_dir, *(compare or [])])  # bad inputs: one line, before the progress bar
    with console.progress() as bar:
        task = bar.add_task("building the dataset", total=2 * len(loaded.paths))
        _, summary = review_eval(loaded, name, lambda n: bar.advance(task, n))
    unreadable = sum(r["unreadable_lines"] for r in summary["runs"].values())
    t = Table(title=f"review dataset '{summary['dataset']}': {summary['samples']} queries "
                    f"({summary['skipped_unanswered']} unanswered skipped"
                    + (f"; {unreadable} unreadable prediction line{'s' * (unreadable != 1)} skipped, their queries "
                       "unanswered" if unreadable else "") + ")")
    t.add_column("")
    runs = summary["runs"]
    for field in runs:
        t.add_column(field, justify="right")
    rows = [("headline", lambda r: f"{r['headline_metric']} {r['headline']}"), ("answered", lambda r: r["answered"]),
            ("unreadable prediction lines", lambda r: r["unreadable_lines"]),
            *((f"FiftyOne {k.upper()} boxes", lambda r, k=k: r.get(k, "-")) for k in ("tp", "fp", "fn")),
            *((f"tag {m}", lambda r, m=m: r["tags"][m]) for m in FAILURE_MODES),
            *((f"mean {k} reward", lambda r, k=k: "-" if r["mean_reward"][k] is None else f"{r['mean_reward'][k]:.3f}")
              for k in ("format", "recall", "precision"))]
    for label, get in rows:
        t.add_row(label, *(str(get(r)) for r in runs.values()))
    t.caption = summary["note"]
    _finish(summary, t, json_out)


@app.command("data")
def data_cmd(mix_dir: Annotated[Path, typer.Argument(help="Output folder of `visionr1 data build`.")],
             name: Name = None,
             limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples.")] = None,
             json_out: JsonOut = None) -> None:
    """The training mix: ground truth, task, difficulty, negative flag, prompt (as tags and fields)."""
    from rich.table import Table

    from visionr1.data.build import load_manifest
    from visionr1.data.stats import mix_folder
    from visionr1.review.datasets import review_data

    mix_folder(mix_dir)  # not a built mix: one line, before the progress bar
    rows = load_manifest(mix_dir).get("rows")  # a total, so that a log off a terminal gets its line per tenth
    total = min(limit or rows, rows) if isinstance(rows, int) else None
    with console.progress() as bar:
        task = bar.add_task("building the dataset", total=total)
        _, summary = review_data(mix_dir, name, limit, lambda n: bar.advance(task, n))
    t = Table(title=f"review dataset '{summary['dataset']}'")
    t.add_column("samples", justify="right")
    t.add_column("boxes", justify="right")
    t.add_column("tasks")
    t.add_column("difficulty")
    t.add_column("negatives", justify="right")
    t.add_row(str(summary["samples"]), str(summary["boxes"]),
              ", ".join(f"{k} {v}" for k, v in summary["task"].items()),
              ", ".join(f"{k} {v}" for k, v in summary["difficulty"].items()), str(summary["negative"]))
    _finish(summary, t, json_out)


@app.command("app")
def app_cmd(name: Annotated[str, typer.Argument(help="Dataset name (see `visionr1 review eval` / `data`).")],
            port: Annotated[int, typer.Option(help="Port of the App server (1-65535).")] = 5151,
            address: Annotated[str, typer.Option(help="Address to serve on (0.0.0.0 for every interface).")]
            = "127.0.0.1") -> None:
    """Serve the FiftyOne App with the dataset and print its URL; Ctrl-C stops it."""
    from visionr1.review.app import dataset_url, launch

    if not 1 <= port <= 65535:
        raise VisionR1Error(f"--port {port} is not a TCP port (1-65535)")
    session = launch(name, port, address)
    host = "localhost" if address in ("127.0.0.1", "0.0.0.0") else address
    console.out.print(f"FiftyOne App: {dataset_url(host, port, name)} (from another machine: ssh -N -L "
                      f"{port}:127.0.0.1:{port} <this host>, then open that URL)", soft_wrap=True)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        console.out.print("App stopped")
