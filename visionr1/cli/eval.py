"""``visionr1 eval``: COCO, ODinW-13, out-of-domain sets, REC, custom sets, VLMEvalKit QA, comparisons."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from visionr1.cli import console
from visionr1.cli.options import with_options
from visionr1.inputs import resolved

app = typer.Typer(help="Evaluate a checkpoint: COCO val2017, ODinW-13, out-of-domain sets, REC, custom COCO-format "
                       "sets, general QA (VLMEvalKit); compare reports.", no_args_is_help=True,
                  rich_markup_mode="markdown")


@dataclass
class EvalOptions:
    model: str | None
    out: Path
    family: str
    protocol: str | None
    limit: int | None
    score_policy: str
    backend: str
    batch_size: int | None
    max_new_tokens: int
    min_pixels: int | None
    max_pixels: int | None
    model_loader: str | None
    evaluator: str | None
    mode: str


_COMMON = [
    ("model", Annotated[str | None, typer.Option(help="Checkpoint folder (or hub id) to evaluate.")], None),
    ("out", Annotated[Path, typer.Option(help="Output folder: predictions/, report.json, report.md (re-running "
                                              "resumes).")], Path("eval-out")),
    ("family", Annotated[str, typer.Option(help="Model family (output format, coordinate space, templates).")],
     "qwen2.5-vl"),
    ("protocol", Annotated[str | None, typer.Option(help="single+pos (one query per image and present category) "
                                                         "or all (every category at once); default per benchmark.")],
     None),
    ("limit", Annotated[int | None, typer.Option(min=1, help="Only the first N queries of each set.")], None),
    ("score_policy", Annotated[str, typer.Option(help="Box confidences: constant (0.99, released evaluation) or "
                                                      "rank-decay (1 / (1 + rank)).")], "constant"),
    ("backend", Annotated[str, typer.Option(help="hf (batched generate), vllm, or oracle (answers with the ground "
                                                 "truth: checks data and metrics, must score 100).")], "hf"),
    ("batch_size", Annotated[int | None, typer.Option(min=1, help="Queries per generate call (default 8; released "
                                                                  "mode: 1).")], None),
    ("max_new_tokens", Annotated[int, typer.Option(min=1, help="Longest answer (paper: 512).")], 512),
    ("min_pixels", Annotated[int | None, typer.Option(help="Image processor min_pixels (default: the training "
                                                           "default 3136; released mode: 784).")], None),
    ("max_pixels", Annotated[int | None, typer.Option(help="Image processor max_pixels (default: the training "
                                                           "default 401408; released mode: 10035200).")], None),
    ("model_loader", Annotated[str | None, typer.Option(help="'module:function' returning (model, processor).")],
     None),
    ("evaluator", Annotated[str | None, typer.Option(help="faster-coco-eval (default) or pycocotools (released "
                                                          "mode's default).")], None),
    ("mode", Annotated[str, typer.Option(help="default (visionr1's corrected evaluation) or released (the released "
                                              "Vision-R1 evaluation's choices, reproduced; Qwen2.5-VL box "
                                              "benchmarks). Every report lists what differs.")], "default"),
]
with_common = with_options(_COMMON, build=lambda **o: EvalOptions(**o), into="opts")


def _run(benchmark: str, opts: EvalOptions, data: dict) -> None:
    """Answer (sharded, resumable), score and report ``benchmark`` on ``data`` (see ``eval.benchmarks``)."""
    from accelerate import PartialState

    from visionr1.errors import VisionR1Error
    from visionr1.eval.backends import BACKENDS
    from visionr1.eval.benchmarks import DEFAULT_PROTOCOL, default_sets, make_sets
    from visionr1.eval.metrics import EVALUATORS, SCORE_POLICIES
    from visionr1.eval.modes import DEFAULTS, check_mode
    from visionr1.formats import FAMILIES, check_pixel_limits
    from visionr1.io import lock_dir

    check_mode(opts.mode, opts.family, benchmark)
    defaults = DEFAULTS[opts.mode]
    min_pixels = defaults.min_pixels if opts.min_pixels is None else opts.min_pixels
    max_pixels = defaults.max_pixels if opts.max_pixels is None else opts.max_pixels
    check_pixel_limits(min_pixels, max_pixels)
    batch_size, evaluator = opts.batch_size or defaults.batch_size, opts.evaluator or defaults.evaluator
    protocol = opts.protocol or DEFAULT_PROTOCOL[benchmark]
    if "sets" in data:
        data["sets"] = _names(data["sets"], default_sets(benchmark))
    data = {k: str(resolved(v)) if isinstance(v, Path) else v for k, v in data.items()}
    for value, allowed, what in ((opts.backend, BACKENDS, "backend"), (opts.score_policy, SCORE_POLICIES,
                                 "score policy"), (evaluator, EVALUATORS, "evaluator"),
                                 (opts.family, FAMILIES, "family")):
        if value not in allowed:
            raise VisionR1Error(f"unknown {what} '{value}' (choose from {', '.join(allowed)})")
    if opts.backend != "oracle":
        if opts.model is None:
            raise VisionR1Error(f"the {opts.backend} backend needs --model")
        from visionr1.models import check_model

        check_model(opts.model, opts.family, opts.model_loader)
    sets = make_sets(benchmark, data, opts.family, protocol, opts.limit, opts.mode)
    if opts.out.exists() and not opts.out.is_dir():
        raise VisionR1Error(f"--out {opts.out} is a file")
    import torch

    # without an accelerator, accelerate only sees a multi-process launch when told to run on the CPU (gloo)
    state = PartialState(cpu=not torch.accelerator.is_available())
    # the main process locks --out: a second evaluation into it stops at once instead of answering everything twice
    with lock_dir(opts.out) if state.is_main_process else contextlib.nullcontext():
        _answer_and_score(benchmark, opts, data, sets, state, protocol, min_pixels, max_pixels, batch_size,
                          evaluator)


def _answer_and_score(benchmark: str, opts: EvalOptions, data: dict, sets: list, state, protocol: str,
                      min_pixels: int, max_pixels: int, batch_size: int, evaluator: str) -> None:
    """The part of ``_run`` that writes into ``--out``: claim it, answer, score, report."""
    from visionr1.eval.backends import hf_dtype, make_backend
    from visionr1.eval.report import reference_lines, report_table
    from visionr1.eval.runner import answer, claim_run, model_fingerprint, score

    released = opts.mode == "released"
    model = opts.model or "(oracle)"
    # what decides the answers (the scoring options, --limit and the number of processes may change on a re-run)
    claim_run(opts.out, {"model": str(resolved(model)) if Path(model).is_dir() else model,
                         "model_fingerprint": model_fingerprint(opts.model), "backend": opts.backend,
                         "family": opts.family, "mode": opts.mode, "min_pixels": min_pixels, "max_pixels": max_pixels,
                         "protocol": protocol, "max_new_tokens": opts.max_new_tokens, "batch_size": batch_size,
                         "model_loader": opts.model_loader, "dtype": hf_dtype() if opts.backend == "hf" else None},
             sets, write=state.is_main_process)
    # no process answers before every process has checked what --out holds (another's first answers would look like
    # an unknown run's)
    state.wait_for_everyone()
    from visionr1.threads import announce

    announce()
    backend_args = (opts.backend, opts.model, opts.family, min_pixels, max_pixels, opts.max_new_tokens,
                    opts.model_loader)
    bar = console.progress() if state.is_main_process else None
    if bar:
        bar.start()
    try:
        backend = answer(sets, lambda: make_backend(*backend_args, device=state.device, released=released), opts.out,
                         opts.family, min_pixels, max_pixels, batch_size, state.process_index, state.num_processes,
                         bar, pre_resize=released)
    finally:
        if bar:
            bar.stop()
    state.wait_for_everyone()
    if not state.is_main_process:
        return
    decoding = backend.decoding() if backend else {"backend": opts.backend, "max_new_tokens": opts.max_new_tokens,
                                                   "note": "all queries were answered by an earlier run"}
    meta = {"model": model, "family": opts.family, "mode": opts.mode, "protocol": protocol, "decoding": decoding,
            "min_pixels": min_pixels, "max_pixels": max_pixels, "batch_size": batch_size, "limit": opts.limit,
            "data": data}
    report = score(benchmark, sets, opts.out, meta, opts.score_policy, evaluator)
    console.out.print(report_table(report))
    for name, m in report["sets"].items():
        for reason, n in m.get("skipped", {}).items():
            console.out.print(f"{name}: skipped {n} {reason}")
    for line in reference_lines(report):
        console.out.print(line)
    console.out.print(f"mode {opts.mode}: {len(report['differences'])} difference(s) from the released evaluation "
                      f"listed in {opts.out / 'report.md'}" if opts.mode == "default" else
                      f"mode released: not reproduced: {'; '.join(report['differences']) or 'nothing'}")
    console.out.print(f"report: {opts.out / 'report.json'}, {opts.out / 'report.md'}")


def _names(value: str | None, default: tuple[str, ...]) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()] if value else list(default)


DataRoot = Annotated[Path, typer.Option(help="Dataset root (see docs/datasets.md).")]
Sets = Annotated[str | None, typer.Option(help="Comma-separated subset of the sets.")]


@app.command("coco")
@with_common
def coco_cmd(data_root: DataRoot, opts: EvalOptions) -> None:
    """COCO val2017: one query per image naming all 80 categories (paper Table 1)."""
    _run("coco", opts, {"data_root": data_root})


@app.command("odinw")
@with_common
def odinw_cmd(data_root: DataRoot, opts: EvalOptions, sets: Sets = None) -> None:
    """ODinW-13 (GLIP valid splits): per-set mAP and the 13-set average (paper Table 1)."""
    _run("odinw", opts, {"data_root": data_root, "sets": sets})


@app.command("ood")
@with_common
def ood_cmd(data_root: DataRoot, opts: EvalOptions, sets: Sets = None) -> None:
    """Out-of-domain sets: boggleBoards, MountainDewCommercial, ThermalCheetah, vector (paper Table 2)."""
    _run("ood", opts, {"data_root": data_root, "sets": sets})


@app.command("rec")
@with_common
def rec_cmd(data_root: Annotated[Path, typer.Option(help="Folder with refcoco/, refcoco+/, refcocog/.")],
            opts: EvalOptions, sets: Sets = None,
            coco_root: Annotated[Path | None, typer.Option(help="COCO root holding train2014/ (default: a 'coco' "
                                                                "folder beside --data-root).")] = None) -> None:
    """RefCOCO / RefCOCO+ / RefCOCOg: Acc@0.5 per split."""
    _run("rec", opts, {"data_root": data_root, "sets": sets, "coco_root": coco_root or Path(data_root).parent / "coco"})


@app.command("custom")
@with_common
def custom_cmd(data_root: Annotated[Path, typer.Option(help="Image folder of the set.")],
               annotations: Annotated[Path, typer.Option(help="COCO-format instances json.")],
               opts: EvalOptions) -> None:
    """Any COCO-format set (json + image folder)."""
    _run("custom", opts, {"data_root": data_root, "annotations": annotations})


@dataclass
class QAOptions:
    model: str | None
    out: Path
    family: str
    limit: int | None
    backend: str
    max_new_tokens: int
    min_pixels: int | None
    max_pixels: int | None
    model_loader: str | None


# the options eval qa shares with the box benchmarks, with the help of its own where theirs does not hold (qa has
# no released mode, and its folder holds VLMEvalKit's files)
_QA_OWN = {
    "backend": (Annotated[str, typer.Option(help="hf (generate) or vllm; with --engine vlmeval, vllm sets "
                                                 "VLMEvalKit's use_vllm.")], "hf"),
    "out": (Annotated[Path, typer.Option(help="Output folder: vlmeval/ (VLMEvalKit's predictions and scores; "
                                              "re-running reuses them), vlmeval_config.json, report.json, "
                                              "report.md.")], Path("eval-out")),
    "min_pixels": (Annotated[int | None, typer.Option(help="Image processor min_pixels (default: the training "
                                                           "default 3136).")], None),
    "max_pixels": (Annotated[int | None, typer.Option(help="Image processor max_pixels (default: the training "
                                                           "default 401408).")], None),
}
_QA = [(o[0], *_QA_OWN[o[0]]) if o[0] in _QA_OWN else o for o in _COMMON if o[0] in QAOptions.__dataclass_fields__]


@app.command("qa")
@with_options(_QA, build=lambda **o: QAOptions(**o), into="opts")
def qa_cmd(opts: QAOptions,
           more: Annotated[list[str] | None, typer.Argument(
               metavar="[BENCHMARK]...", help="More benchmarks (so that `--benchmarks A B C` works).")] = None,
           benchmarks: Annotated[str | None, typer.Option(
               help="VLMEvalKit benchmark names, comma- or space-separated (default: the paper's "
                    "GQA_TestDev_Balanced AI2D_TEST ChartQA_TEST SEEDBench_IMG); any NAME.tsv in --lmu-data "
                    "works.")] = None,
           lmu_data: Annotated[Path | None, typer.Option(
               envvar="LMUData", help="Folder of VLMEvalKit benchmark TSVs (default: ~/LMUData).")] = None,
           engine: Annotated[str, typer.Option(
               help="visionr1 (answers with visionr1's backend: same loading, pixels and greedy decoding as the "
                    "other benchmarks, any device) or vlmeval (VLMEvalKit's Qwen2VLChat: GPU + flash-attention)."
           )] = "visionr1") -> None:
    """General QA with VLMEvalKit, exact-match judging (paper Table 11): the localization gains must not cost
    general ability."""
    from accelerate import PartialState

    from visionr1.errors import VisionR1Error
    from visionr1.eval.modes import DEFAULTS
    from visionr1.eval.qa import PAPER_QA, run_qa
    from visionr1.eval.report import reference_lines, report_table
    from visionr1.formats import check_pixel_limits
    from visionr1.io import lock_dir

    if opts.model is None:
        raise VisionR1Error("eval qa needs --model")
    if opts.backend not in ("hf", "vllm"):
        raise VisionR1Error(f"eval qa answers with the hf or vllm backend, not '{opts.backend}'")
    names = [n for part in [benchmarks or "", *(more or [])] for n in part.replace(",", " ").split()]
    pixels = DEFAULTS["default"]
    min_pixels = pixels.min_pixels if opts.min_pixels is None else opts.min_pixels
    max_pixels = pixels.max_pixels if opts.max_pixels is None else opts.max_pixels
    check_pixel_limits(min_pixels, max_pixels)
    if engine == "visionr1":
        from visionr1.models import check_model

        check_model(opts.model, opts.family, opts.model_loader)
    import torch

    state = PartialState(cpu=not torch.accelerator.is_available())
    lmu = lmu_data or Path.home() / "LMUData"
    # the main process locks --out, as the box benchmarks do: a second run into it stops at once
    with lock_dir(opts.out) if state.is_main_process else contextlib.nullcontext():
        report = run_qa(model=opts.model, benchmarks=names or list(PAPER_QA), lmu_data=lmu, out=opts.out,
                        engine=engine, family=opts.family, backend=opts.backend, min_pixels=min_pixels,
                        max_pixels=max_pixels, max_new_tokens=opts.max_new_tokens, loader=opts.model_loader,
                        limit=opts.limit, device=state.device, is_main=state.is_main_process)
    if report:
        console.out.print(report_table(report))
        for line in reference_lines(report):
            console.out.print(line)
        console.out.print(f"report: {opts.out / 'report.json'}, {opts.out / 'report.md'}")


@app.command("compare")
def compare_cmd(reports: Annotated[list[Path], typer.Argument(help="report.json files (or their folders); the "
                                                                   "first is the baseline.")],
                strict: Annotated[bool, typer.Option(help="Refuse (exit 2) when the reports are not comparable "
                                                          "instead of marking the deltas.")] = False) -> None:
    """Headline metrics of several runs side by side, with deltas (base vs Vision-R1 vs SFT, like Table 1). Runs
    that differ in protocol, mode, score policy, evaluator, family, pixel limits, decoding (max_new_tokens,
    repetition penalty, sampling), query limit or set list are flagged (or refused with --strict)."""
    from visionr1.errors import VisionR1Error
    from visionr1.eval.report import compare_table, incompatibilities, load_report

    if len(reports) < 2:
        raise VisionR1Error("compare needs at least two reports")
    loaded = [load_report(p) for p in reports]
    names = [Path(p).parent.name if Path(p).name == "report.json" else Path(p).name for p in reports]
    if not set.intersection(*(set(r["sets"]) for r in loaded)):
        counts = "; ".join(f"{n}: {len(r['sets'])} sets" for n, r in zip(names, loaded, strict=True))
        raise VisionR1Error(f"the reports share no evaluated set ({counts}): nothing to compare")
    problems = incompatibilities(loaded, names)
    if problems and strict:
        raise VisionR1Error("the reports are not comparable: " + "; ".join(problems))
    console.out.print(compare_table(loaded, names))
