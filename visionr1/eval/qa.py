"""General QA through VLMEvalKit (paper Table 11: localization training must not cost general ability).

VLMEvalKit owns the benchmarks (TSVs in an ``LMUData`` folder), the prompts and the judging (exact matching, no
LLM judge); the answers come from visionr1's backend (engine ``visionr1``: same loading, pixels and greedy
decoding as the localization benchmarks, any device) or from VLMEvalKit's own ``Qwen2VLChat`` (engine
``vlmeval``: GPU with flash-attention, the leaderboard setup)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from pathlib import Path

from visionr1 import __version__
from visionr1.errors import VisionR1Error
from visionr1.eval.paper import reference, tables
from visionr1.eval.report import write_report
from visionr1.io import sha256_file, write_json
from visionr1.synth.writers import WORLD_MARKER

PAPER_QA = tuple(tables()["tables"]["Table 11"]["columns"])  # the paper's four, as VLMEvalKit names them
ENGINES = ("visionr1", "vlmeval")
INSTALL_HINT = ("eval qa needs VLMEvalKit: pip install 'visionr1[qa]' (it installs ms-vlmeval; nvidia-vlmeval "
                "works too)")
JUDGE = "exact_matching"


def import_vlmeval():
    """Import the VLMEvalKit modules visionr1 uses (``vlmeval.dataset`` is returned), or a one-line install
    hint. Importing ``vlmeval.vlm`` turns autograd off for the whole process; the mode is put back."""
    import torch

    grad = torch.is_grad_enabled()
    logging.disable(logging.ERROR)  # importing vlmeval logs an error when it finds no .env of API keys
    try:
        import vlmeval.dataset
        import vlmeval.inference
        import vlmeval.run
        import vlmeval.smp
        import vlmeval.vlm
    except ImportError:
        raise VisionR1Error(INSTALL_HINT) from None
    finally:
        logging.disable(logging.NOTSET)
        torch.set_grad_enabled(grad)
    # "Dataset X is not officially supported / will be treated as custom": expected for custom TSVs
    warnings.filterwarnings("ignore", category=UserWarning, module=r"vlmeval\.")
    return vlmeval.dataset


def _md5(path: Path) -> str:
    """The md5 VLMEvalKit lists for its TSVs."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def check_lmudata(lmu_data: Path, benchmarks: list[str], vd) -> None:
    """Every benchmark TSV is in ``lmu_data`` and, for official ones, is the file VLMEvalKit expects (it would
    try to download otherwise); all problems in one message."""
    urls, md5s = {}, {}
    for cls in vd.DATASET_CLASSES:
        urls.update(getattr(cls, "DATASET_URL", {}) or {})
        md5s.update(getattr(cls, "DATASET_MD5", {}) or {})
    missing, wrong = [], []
    for b in benchmarks:
        path = lmu_data / f"{b}.tsv"
        if not path.is_file():
            missing.append(f"{path}" + (f" (from {urls[b]})" if urls.get(b) else ""))
        elif md5s.get(b) and _md5(path) != md5s[b]:
            wrong.append(f"{path} (md5 differs from VLMEvalKit's; download it again from {urls.get(b, 'VLMEvalKit')})")
    if missing or wrong:
        parts = ([f"missing {len(missing)} VLMEvalKit TSV file{'s' if len(missing) > 1 else ''}: "
                  + ", ".join(missing)] if missing else []) + wrong
        raise VisionR1Error("; ".join(parts) + " — custom sets: <NAME>.tsv with index, image (base64), question, "
                                               "answer (+ A, B, ... for multiple choice)")


def vlmeval_version() -> str:
    """The installed distribution that provides ``vlmeval`` and its version (``ms-vlmeval 0.0.20``; ``unknown``
    where no distribution's metadata names it)."""
    from importlib.metadata import packages_distributions, version

    names = packages_distributions().get("vlmeval")
    return f"{names[0]} {version(names[0])}" if names else "unknown"


def vlmeval_config(model: str, model_name: str, engine: str, datasets: dict, *, min_pixels: int, max_pixels: int,
                   max_new_tokens: int, use_vllm: bool) -> dict:
    """The VLMEvalKit config of this run (``python -m vlmeval.run --config FILE`` reproduces the ``vlmeval``
    engine; the ``visionr1`` engine's class exists only inside visionr1)."""
    if engine == "vlmeval":
        entry = {"class": "Qwen2VLChat", "model_path": model, "min_pixels": min_pixels, "max_pixels": max_pixels,
                 "max_new_tokens": max_new_tokens, "use_vllm": use_vllm}
    else:
        entry = {"class": "VisionR1Chat", "model_path": model, "min_pixels": min_pixels, "max_pixels": max_pixels,
                 "max_new_tokens": max_new_tokens, "greedy": True}
    return {"model": {model_name: entry},
            "data": {name: {"class": type(ds).__name__, "dataset": name} for name, ds in datasets.items()}}


def _metrics(result, scale: float) -> dict[str, float]:
    """VLMEvalKit's result (a dict or a one-row-per-split DataFrame) as {metric: percent}."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        rows = result.to_dict("records")
        row = next((r for r in rows if r.get("split") == "none"), rows[0]) if rows else {}
    else:
        row = dict(result or {})
    out = {}
    for k, v in row.items():
        try:
            out[str(k)] = round(float(v) * scale, 2)
        except (TypeError, ValueError):
            continue
    return out


def run_qa(*, model: str, benchmarks: list[str], lmu_data: Path, out: Path, engine: str, family: str,
           backend: str, min_pixels: int, max_pixels: int, max_new_tokens: int, loader: str | None,
           limit: int | None, device=None, is_main: bool = True, answerer=None) -> dict | None:
    """Answer and judge every benchmark; returns the report on the main process. ``answerer``: an object with
    the backends' ``chat`` and ``decoding`` to answer with instead of loading ``model``."""
    if engine not in ENGINES:
        raise VisionR1Error(f"unknown engine '{engine}' (choose from {', '.join(ENGINES)})")
    if not lmu_data.is_dir():
        raise VisionR1Error(f"LMUData folder {lmu_data} does not exist (VLMEvalKit's benchmark TSVs go there)")
    os.environ["LMUData"] = str(lmu_data.resolve())  # noqa: SIM112 - VLMEvalKit's variable
    vd = import_vlmeval()
    check_lmudata(lmu_data, benchmarks, vd)
    from visionr1.eval.backends import hf_dtype
    from visionr1.eval.runner import claim_run, model_fingerprint
    from visionr1.inputs import resolved

    # VLMEvalKit reuses the answers in vlmeval/ by model folder name and benchmark name alone: what decides them is
    # recorded in run.json, and a run that differs is refused before anything is written or loaded (--limit may
    # change: a longer one answers the rest)
    claim_run(out, {"model": str(resolved(model)) if Path(model).is_dir() else model,
                    "model_fingerprint": model_fingerprint(model), "engine": engine, "backend": backend,
                    "family": family, "min_pixels": min_pixels, "max_pixels": max_pixels,
                    "max_new_tokens": max_new_tokens, "model_loader": loader,
                    "dtype": hf_dtype() if engine == "visionr1" and backend == "hf" else None,
                    # VLMEvalKit builds the prompts (both engines) and, with --engine vlmeval, decodes with its own
                    # Qwen2VLChat defaults: another version may answer otherwise
                    "vlmeval": vlmeval_version(),
                    "benchmarks": {b: sha256_file(lmu_data / f"{b}.tsv")[:16] for b in benchmarks}}, write=is_main)
    from vlmeval.inference import infer_data_job
    from vlmeval.smp import get_pred_file_path

    datasets = {}
    for b in benchmarks:
        datasets[b] = vd.build_dataset(b)
        if datasets[b] is None:
            raise VisionR1Error(f"VLMEvalKit cannot build benchmark {b} from {lmu_data / (b + '.tsv')} (a custom "
                                "TSV needs a 'question' column)")
    model_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model).name or model)
    config = vlmeval_config(model, model_name, engine, datasets, min_pixels=min_pixels, max_pixels=max_pixels,
                            max_new_tokens=max_new_tokens, use_vllm=backend == "vllm")
    out.mkdir(parents=True, exist_ok=True)
    if is_main:
        write_json(out / "vlmeval_config.json", config, indent=2)
    if engine == "vlmeval":
        from vlmeval.run import build_model_from_config

        vlm = build_model_from_config(config["model"], model_name, use_vllm=backend == "vllm")
        decoding = {"engine": engine, "class": "Qwen2VLChat", "max_new_tokens": max_new_tokens}
    else:
        from visionr1.eval.backends import make_backend
        from visionr1.eval.vlmeval_model import VisionR1Chat

        b = answerer or make_backend(backend, model, family, min_pixels, max_pixels, max_new_tokens, loader, device,
                                     max_images=8)
        vlm = VisionR1Chat(b)
        decoding = {"engine": engine, **b.decoding()}
    work = out / "vlmeval"
    work.mkdir(exist_ok=True)
    results = {}
    for name, ds in datasets.items():
        infer_data_job(vlm, work_dir=str(work), model_name=model_name, dataset=ds, limit=limit)
        if not is_main:
            continue
        result = ds.evaluate(get_pred_file_path(str(work), model_name, name), model=JUDGE, nproc=4)
        scale = 100.0 if ds.TYPE == "MCQ" else 1.0  # VLMEvalKit: MCQ accuracy as a fraction, VQA in percent
        results[name] = {**_metrics(result, scale), "questions": len(ds.data), "type": ds.TYPE}
    if not is_main:
        return None
    main = {n: m.get("Overall") for n, m in results.items()}
    average = ({"Overall": round(sum(v or 0 for v in main.values()) / len(main), 2),
                "questions": sum(m["questions"] for m in results.values())} if len(results) > 1 else None)
    report = {"created_by": "visionr1 eval", "visionr1": __version__, "benchmark": "qa", "kind": "qa",
              "model": model, "family": family, "protocol": f"VLMEvalKit ({engine} engine)", "judge": JUDGE,
              "score_policy": "n/a", "evaluator": "VLMEvalKit", "decoding": decoding, "min_pixels": min_pixels,
              "max_pixels": max_pixels, "limit": limit, "lmu_data": str(lmu_data), "sets": results,
              "average": average, "headline": (average or {"Overall": next(iter(main.values()))})["Overall"],
              "mode": "default", "differences": ["general QA runs through VLMEvalKit, as in the paper; the released "
                                                 "eval_localization.py has no QA path"],
              "paper_reference": reference("qa", list(results), limit, mode="default",
                                         synthetic=(lmu_data / WORLD_MARKER).is_file()
                                         or (lmu_data.parent / WORLD_MARKER).is_file())}
    write_report(report, out)
    return report
