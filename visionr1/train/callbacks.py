"""Trainer callbacks: metrics.jsonl, a rich progress bar, reward / loss curves as PNG."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

METRICS = "metrics.jsonl"
CURVES = "reward_curves.png"


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` that are whole (a run killed while logging leaves a partial last
    line), each a dict with its integer ``step``; [] when there is no file."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


class MetricsFile(TrainerCallback):
    """Append every log record (with its step) to ``<out>/metrics.jsonl``; draw the curves at the end."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / METRICS

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.path.is_file():
            plot_curves(self.path, self.path.parent / CURVES)


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (fewer at the start)."""
    import numpy as np

    c = np.cumsum([0.0, *values])
    lo = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return ((c[1:] - c[lo]) / (np.arange(1, len(values) + 1) - lo)).tolist()


def phase_switch(rows: list[dict]) -> int | None:
    """The first step logged in phase 2 of the progressive rule refinement (None: no switch)."""
    return next((r["step"] for r in rows if r.get("reward/phase", 1) >= 2), None)


def plot_curves(metrics: Path, out: Path) -> Path | None:
    """One panel per reward term (GRPO) or the loss (SFT) against the step: the logged values faint, their
    moving average (a tenth of the run) bold, the switch to phase 2 of the reward (Sec. 3.3) as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics)
    keys = [k for k in ("rewards/format/mean", "rewards/recall/mean", "rewards/precision/mean", "reward", "loss")
            if any(k in r for r in rows)]
    if not keys:
        return None
    switch = phase_switch(rows)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps, values = zip(*[(r["step"], r[key]) for r in rows if key in r], strict=True)
        ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=1)
        ax.plot(steps, smooth(list(values), max(1, len(values) // 10)), color="tab:blue", linewidth=2)
        if switch is not None:
            ax.axvline(switch, color="tab:red", linestyle="--", linewidth=1, label="phase 2")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_title(key.replace("rewards/", "").replace("/mean", ""))
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


class RichProgress(TrainerCallback):
    """A rich progress bar (steps, elapsed, remaining) with the latest reward or loss."""

    def __init__(self) -> None:
        self.bar = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from visionr1.cli.console import progress

            self.bar = progress()
            self.bar.start()
            self.task = self.bar.add_task("training", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            shown = {k: logs[k] for k in ("reward", "loss", "rewards/recall/mean", "reward/phase") if k in logs}
            if shown:
                self.bar.update(self.task, description="training " + " ".join(
                    f"{k.split('/')[-2] if k.endswith('/mean') else k}={v:.3g}" for k, v in shown.items()))

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
