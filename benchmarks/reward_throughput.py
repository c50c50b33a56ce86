"""Reward throughput: completions scored per second, one thread, paper and official presets.

10k generated completions (1-30 gt boxes, 0-40 predicted boxes, mixed formats: fenced JSON, bare JSON, prose
around JSON, truncated JSON, objects without list brackets, Python-style quotes, garbage). Scored in batches
of 256 (one GRPO step of 64 prompts x 4 generations, as TRL calls the reward functions) and one completion per
call. Each figure is the best of ``--repeat`` runs (machines here are noisy). The same-run baseline is
``json.loads`` of the same texts, so the printed ratio is comparable across machines.
Target (issue 3): >= 15,000 completions/s for the paper preset.

The CLI rows time ``visionr1 reward score`` on the same cases written as JSONL (issue 15: >= 10,000/s end to
end): "file to file" is the command run in this process (reading, line validation, scoring, writing the output
file; imports already done), "new process" adds the interpreter start and imports of a fresh
``python -m visionr1`` process. Their ratio to the in-process row is measured in the same run.

    python benchmarks/reward_throughput.py [--n 10000] [--seed 0] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time

import numpy as np

from visionr1.formats import get_adapter
from visionr1.rewards import RewardConfig, score, score_batch

BATCH = 256


def make_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    adapter = get_adapter("qwen2.5-vl")
    labels = ["person", "car", "dog", "traffic light", "cup", "chair", "bird", "boat"]
    cases = []
    for _ in range(n):
        w, h = int(rng.integers(160, 1281)), int(rng.integers(160, 1281))
        n_gt = int(rng.integers(1, 31))
        xy = rng.uniform(0, 0.8, size=(n_gt, 2)) * [w, h]
        wh = rng.uniform(0.03, 0.2, size=(n_gt, 2)) * [w, h]
        gt_boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1).round(2)
        gt = [{"label": labels[int(rng.integers(len(labels)))], "bbox": b.tolist()} for b in gt_boxes]
        m = int(rng.integers(0, 41))
        src = rng.integers(0, n_gt, size=m)
        jitter = rng.normal(0, 0.05, size=(m, 4)) * np.repeat(wh[src], 2, axis=0).reshape(m, 4)
        pred = gt_boxes[src] + jitter
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        wrong = rng.random(m) < 0.2
        pred[wrong] = np.concatenate([rng.uniform(0, 0.9, (int(wrong.sum()), 2)) * [w, h],
                                      rng.uniform(0.9, 1.0, (int(wrong.sum()), 2)) * [w, h]], axis=1)
        pred_gt = [{"label": gt[s]["label"], "bbox": p.tolist()} for s, p in zip(src, pred, strict=True)]
        text = adapter.serialize(pred_gt, adapter.geometry(w, h))
        kind = rng.random()
        if kind < 0.10:  # no fence
            text = text.removeprefix("```json\n").removesuffix("\n```")
        elif kind < 0.15:  # prose around the answer
            text = f"Sure, here are the objects I found:\n{text}\nLet me know if you need more."
        elif kind < 0.20:  # cut off by the length limit
            text = text[: int(len(text) * rng.uniform(0.3, 0.95))]
        elif kind < 0.23:  # Python-style quotes
            text = text.replace('"', "'")
        elif kind < 0.26:  # objects without the list brackets
            text = text.replace("]\n```", "").replace("```json\n[", "")
        elif kind < 0.29:  # garbage
            text = "".join(chr(int(c)) for c in rng.integers(32, 127, size=int(rng.integers(10, 2000))))
        cases.append({"completion": text, "gt": gt, "width": w, "height": h})
    return cases


def best_rate(cases: list[dict], run, repeat: int) -> float:
    """Completions per second of the fastest of ``repeat`` runs of ``run(cases)``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(cases)
        times.append(time.perf_counter() - t0)
    return len(cases) / min(times)


def cli_rates(cases: list[dict], repeat: int, in_process: float) -> dict:
    """``visionr1 reward score`` on ``cases`` as JSONL: in this process and as a new process (best of
    ``repeat``), with the ratio to the in-process batched rate."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from visionr1.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps(c) + "\n" for c in cases))
        args = ["reward", "score", str(src), "--output", str(out)]

        def in_proc(_):
            with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # the summary table
                assert cli(args) == 0

        def new_proc(_):
            subprocess.run([sys.executable, "-m", "visionr1", *args], check=True, capture_output=True)

        file_to_file = best_rate(cases, in_proc, repeat)
        process = best_rate(cases, new_proc, repeat)
    res = {"file_to_file_per_s": file_to_file, "new_process_per_s": process,
           "file_to_file_vs_in_process": file_to_file / in_process}
    for label, rate in (("visionr1 reward score, file to file", file_to_file),
                        ("visionr1 reward score, new process", process)):
        print(f"{label:36s} {rate:>10,.0f} completions/s ({rate / in_process:.2f}x the in-process rate)")
    target = 10_000
    print(f"target >= {target:,}/s end to end (file to file): {'met' if file_to_file >= target else 'NOT met'}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    cases = make_cases(args.n, args.seed)
    presets = {"paper": RewardConfig(), "official": RewardConfig(preset="official")}

    def loads(cs):
        for c in cs:
            with contextlib.suppress(ValueError):
                json.loads(c["completion"].removeprefix("```json").removesuffix("```"))

    def batched(cfg):
        def run(cs):
            for i in range(0, len(cs), BATCH):
                chunk = cs[i: i + BATCH]
                score_batch([c["completion"] for c in chunk], [c["gt"] for c in chunk],
                            [c["width"] for c in chunk], [c["height"] for c in chunk], config=cfg)
        return run

    for cfg in presets.values():  # warm up imports and caches
        batched(cfg)(cases[:512])
    base = best_rate(cases, loads, args.repeat)
    results = {"n": args.n, "batch": BATCH, "repeat": args.repeat, "baseline_json_loads": base}
    print(f"{args.n} completions, one thread, best of {args.repeat}")
    print(f"{'json.loads only (baseline)':36s} {base:>10,.0f} completions/s")
    for name, cfg in presets.items():
        rate = best_rate(cases, batched(cfg), args.repeat)
        single = cases[: min(len(cases), 2000)]
        per_call = []
        for c in single:
            t = time.perf_counter_ns()
            score(c["completion"], c["gt"], c["width"], c["height"], config=cfg)
            per_call.append(time.perf_counter_ns() - t)
        med = statistics.median(per_call) / 1000
        results[name] = {"completions_per_s": rate, "cost_vs_json_loads": base / rate,
                         "single_call_median_us": med}
        print(f"{name + f' preset, batches of {BATCH}':36s} {rate:>10,.0f} completions/s "
              f"({base / rate:.1f}x the cost of json.loads)")
        print(f"{name + ' preset, one completion per call':36s} {'':>10s} median {med:6.1f} us/completion")
    target = 15_000
    met = results["paper"]["completions_per_s"] >= target
    print(f"target >= {target:,}/s for the paper preset: {'met' if met else 'NOT met'}")
    results["cli"] = cli_rates(cases, args.repeat, results["paper"]["completions_per_s"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
