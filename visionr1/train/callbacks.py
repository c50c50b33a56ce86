"""Trainer callbacks: metrics.jsonl, a rich progress bar, reward / loss curves as PNG."""

from __future__ import annotations

import json
from collections import deque
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


# panels of the curves: metric, y range (None: the data's); reward terms are 0-1, the reward 0-3, held-out percent
# and the held-out greedy reward on the training reward's 0-3 (the sampled reward can level off while it rises)
PANELS = {"rewards/format/mean": (0, 1.05), "rewards/recall/mean": (0, 1.05), "rewards/precision/mean": (0, 1.05),
          "reward": (0, 3.1), "loss": None, "heldout/mAP": (0, 100), "heldout/AR100": (0, 100),
          "heldout/reward": (0, 3.1)}
PANEL_WIDTH = 3.6  # inches; 100 dpi


def panels(rows: list[dict]) -> list[str]:
    """The panels of ``plot_curves`` for these metrics rows, in order: those of ``PANELS`` that were logged."""
    return [k for k in PANELS if any(k in r for r in rows)]


def plot_curves(metrics: Path, out: Path) -> Path | None:
    """One panel per reward term (GRPO) or the loss (SFT) against the step, and the held-out mAP, AR100 and greedy
    reward where they were measured (``HeldoutEval``): the logged values faint, their moving average (a tenth of the
    run) bold, the switch to phase 2 of the reward (Sec. 3.3) as a dashed line. Reward panels span their whole range
    (0-1 for a term, 0-3 for the sum), so that a term at 0.94 does not fill the panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics)
    keys = panels(rows)
    if not keys:
        return None
    switch = phase_switch(rows)
    fig, axes = plt.subplots(1, len(keys), figsize=(PANEL_WIDTH * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps, values = zip(*[(r["step"], r[key]) for r in rows if key in r and r[key] is not None], strict=True)
        heldout = key.startswith("heldout/")
        ax.plot(steps, values, color="tab:green" if heldout else "tab:blue", alpha=1 if heldout else 0.3,
                linewidth=1.5 if heldout else 1, marker="o" if heldout else None, markersize=3)
        if not heldout:
            ax.plot(steps, smooth(list(values), max(1, len(values) // 10)), color="tab:blue", linewidth=2)
        if PANELS[key]:
            ax.set_ylim(*PANELS[key])
        if switch is not None:
            ax.axvline(switch, color="tab:red", linestyle="--", linewidth=1, label="phase 2")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_title(key.replace("rewards/", "").replace("/mean", "").replace("heldout/", "held-out "))
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, m, sec = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def progress_line(step: int, total: int, logs: dict, step_seconds: float | None) -> str:
    """One plain progress line: step, reward and its terms (GRPO), loss, KL, seconds per step and the time left
    at that pace."""
    parts = [f"step {step}/{total}"]
    if "reward" in logs:
        terms = " ".join(f"{t} {logs[f'rewards/{t}/mean']:.3f}" for t in ("format", "recall", "precision")
                         if f"rewards/{t}/mean" in logs)
        parts.append(f"reward {logs['reward']:.3f}" + (f" ({terms})" if terms else ""))
    for key in ("loss", "kl"):
        if isinstance(logs.get(key), (int, float)):
            parts.append(f"{key} {logs[key]:.4g}")
    if step_seconds is not None:
        parts.append(f"{step_seconds:.2f} s/step, ETA {_duration(step_seconds * max(total - step, 0))}")
    return ", ".join(parts)


class RichProgress(TrainerCallback):
    """A rich progress bar (steps, elapsed, remaining) with the latest reward or loss; where stderr is not a
    terminal (SLURM, nohup, a pipe) a plain line (``progress_line``) every ``every`` steps instead (0: a
    twentieth of the run), on the main process only."""

    def __init__(self, every: int = 0) -> None:
        self.bar = None
        self.task = None
        self.every = every
        self.plain = False
        self.times: deque[float] = deque()
        self.printed = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            import time

            from visionr1.cli.console import err, progress

            self.every = self.every or max(1, state.max_steps // 20)
            # the pace of the last `every` steps (the first of a run includes warm-up)
            self.times, self.printed = deque([time.monotonic()], maxlen=self.every + 1), state.global_step
            if not err.is_terminal:
                self.plain = True
                err.print(f"training: {state.max_steps} steps (from step {state.global_step}); a line every "
                          f"{self.every}", highlight=False)
                return
            self.bar = progress()
            self.bar.start()
            self.task = self.bar.add_task("training", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.plain:
            import time

            self.times.append(time.monotonic())
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        step = state.global_step
        if self.plain and logs and ("loss" in logs or "reward" in logs) and step > self.printed and (
                step - self.printed >= self.every or step == state.max_steps):
            from visionr1.cli.console import err

            pace = (self.times[-1] - self.times[0]) / (len(self.times) - 1) if len(self.times) > 1 else None
            err.print(progress_line(step, state.max_steps, logs, pace), highlight=False)
            self.printed = step
        if self.bar is not None and logs:
            shown = {k: logs[k] for k in ("reward", "loss", "rewards/recall/mean", "reward/phase") if k in logs}
            if shown:
                self.bar.update(self.task, description="training " + " ".join(
                    f"{k.split('/')[-2] if k.endswith('/mean') else k}={v:.3g}" for k, v in shown.items()))

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


HELDOUT_KEYS = ("mAP", "AP50", "AR100", "reward")  # logged as heldout/<key>


class HeldoutEval(TrainerCallback):
    """Held-out mAP during training: greedy answers of the model being trained to a fixed held-out set, before the
    first step and every ``every`` steps, scored by the evaluation's own chain (``visionr1 eval``'s parsing,
    COCOeval and mean reward) into ``heldout/mAP`` / ``AP50`` / ``AR100`` / ``reward`` rows of metrics.jsonl.
    Every process answers its share of the queries; the first scores and writes."""

    def __init__(self, out: Path, heldout, family: str, min_pixels: int, max_pixels: int, every: int,
                 max_new_tokens: int, batch_size: int = 16) -> None:
        self.path, self.set, self.every = Path(out) / METRICS, heldout, every
        self.family, self.pixels, self.max_new_tokens, self.batch_size = family, (min_pixels, max_pixels), \
            max_new_tokens, batch_size

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step == 0:  # a resumed run has its earlier rows
            self._evaluate(state, model, processing_class)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._evaluate(state, model, processing_class)

    def _evaluate(self, state, model, processor) -> None:
        import torch.distributed as dist

        from visionr1.eval.backends import HFBackend
        from visionr1.eval.metrics import box_metrics, mean_reward
        from visionr1.eval.runner import answer_batch
        from visionr1.formats import get_adapter

        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() \
            else (0, 1)
        was_training = model.training
        model.eval()
        backend, adapter = HFBackend.live(model, processor, self.max_new_tokens), get_adapter(self.family)
        mine = self.set.queries[rank::world]
        records = [r for i in range(0, len(mine), self.batch_size)
                   for r in answer_batch(backend, mine[i:i + self.batch_size], adapter, *self.pixels)]
        model.train(was_training)
        if world > 1:
            gathered: list = [None] * world
            dist.all_gather_object(gathered, records)
            records = [r for part in gathered for r in part]
        if not state.is_world_process_zero:
            return
        by_qid = {r["qid"]: r for r in records}
        scores = {**box_metrics(self.set, by_qid), **mean_reward(self.set, by_qid, self.family, *self.pixels)}
        row = {"step": state.global_step, **{f"heldout/{k}": scores[k] for k in HELDOUT_KEYS}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        from visionr1.cli.console import err

        err.print(f"held-out at step {state.global_step}: " + ", ".join(
            f"{k} {scores[k]:.2f}" if k == "reward" else f"{k} {scores[k]:.1f}" for k in HELDOUT_KEYS),
            highlight=False)
