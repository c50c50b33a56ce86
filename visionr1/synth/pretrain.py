"""``visionr1 synth pretrain``: the pretraining stage the real base models had, on the synthetic world.

Qwen2.5-VL-7B localizes before Vision-R1 touches it (COCO mAP 17.7, ODinW-13 37.0): it was pretrained on image-text
pairs, grounding and detection data. A synthetic checkpoint starts from random weights, and a model trained from
scratch on the Vision-R1 mix alone learns the answer format without ever looking at the image. This stage gives it
the base model's situation in miniature with a curriculum in which every answer depends on the image:

1. ``name``: the colour and shape of every object, left to right (what the image shows, in words that mean the same
   in every domain: a category name would not, since an ODinW set may call a red heart "hand");
2. ``where``: the coarse position (3 x 3 grid) of every instance of one named object;
3. ``ground``: the family's grounding instruction, one category asked, boxes in the model's coordinate space;
4. ``detect``: the family's detection instruction naming a whole category set, a little of it.

The share of each task moves from naming to grounding as training goes on (``CURRICULUM``). Images are new scenes
drawn from their own random stream (``pretrain``), so they are neither the Vision-R1 mix's nor any evaluation
set's; the vocabulary is the world's: COCO's shape categories and the look of every ODinW category (what a real
base model knows about boats and potholes). The result is an ordinary checkpoint in the hub layout.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from visionr1.data.layouts import EVAL_SETS
from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error
from visionr1.formats import get_adapter
from visionr1.synth.pretrain_config import PretrainConfig
from visionr1.synth.shapes import SHAPES
from visionr1.synth.world import (
    COCO_SHAPES,
    COLOUR_NAMES,
    PROFILES,
    Scene,
    _odinw_categories,
    _rng,
    make_scene,
)

TASKS = ("name", "where", "ground", "detect")
# (start of the phase as a share of the steps, task weights in TASKS order)
CURRICULUM = ((0.0, (0.6, 0.4, 0.0, 0.0)), (0.1, (0.3, 0.2, 0.5, 0.0)), (0.3, (0.2, 0.1, 0.5, 0.2)))
NAME_PROMPT = "What is in the image? Give the colour and shape of each object, from left to right."
WHERE_PROMPT = "Where is the {category} in the image? Give the rough position of each one."
GRID = (("top left", "top", "top right"), ("left", "centre", "right"), ("bottom left", "bottom", "bottom right"))
COCO_SHARE = 0.4  # share of scenes in COCO's vocabulary; the rest are split evenly among the ODinW sets
# Detection answers that name only part of a scene (`synth pretrain --partial-detection`), per world profile: the
# share of answers that list k = 1, 2, ... objects (the first k in reading order; a scene with fewer objects lists them
# all). Real base models learnt detection from captions and partial annotations and name a few salient objects of a
# crowded image (Qwen2.5-VL-7B: COCO AR100 29.8); such a base does the same. Greedy decoding names the most likely
# count (simple: one object; dense: about four), sampling sometimes goes on: the recall that GRPO can find.
# Grounding answers (one category) stay complete.
_DENSE_PARTIAL = (0.05, 0.10, 0.25, 0.35, 0.08, 0.06, 0.04, 0.03, 0.02, 0.02)
PARTIAL_DETECTION = {"simple": (0.7, 0.2, 0.1), "dense": _DENSE_PARTIAL, "dense-224": _DENSE_PARTIAL}
# `synth pretrain --grow-scenes`: a scene holds at most GROW_SCENES[0] objects at the start of the run, and the
# most grows linearly to the profile's own by GROW_SCENES[1] of the steps: a base continued on a new image size
# first learns it on scenes whose objects it can tell apart, then on crowded ones.
GROW_SCENES = (3, 0.6)
PROFILES_PRETRAINED = ("simple", "dense", "dense-224")  # the world profiles sized for a small model on a CPU


@dataclass(frozen=True)
class Domain:
    """A category vocabulary of the world: names, and how each looks (shape, colour or None for any)."""

    name: str
    categories: tuple[str, ...]
    looks: dict[str, tuple[str, str | None]]


@dataclass(frozen=True)
class Sample:
    """One scene and a conversation about it: ``turns`` of (task, prompt, answer)."""

    scene: Scene
    turns: tuple[tuple[str, str, str], ...]


def domains(world_seed: int) -> list[Domain]:
    """COCO's shapes and every ODinW evaluation set's categories with the looks the world draws them with."""
    out = [Domain("coco", COCO_SHAPES, {s: (s, None) for s in COCO_SHAPES})]
    for oi, name in enumerate(EVAL_SETS):
        cats, looks, _ = _odinw_categories(_rng(world_seed, "odinw-cats", oi), name, tuple(SHAPES))
        out.append(Domain(name, cats, looks))
    return out


def phase(progress: float) -> int:
    """The curriculum phase (1-based index into ``CURRICULUM``) at ``progress`` (0..1) of the run."""
    return max(i for i, (start, _) in enumerate(CURRICULUM, 1) if progress >= start)


def task_weights(progress: float) -> tuple[float, ...]:
    """The curriculum's task weights at ``progress`` (0..1) of the run."""
    return CURRICULUM[phase(progress) - 1][1]


def _region(scene: Scene, box) -> str:
    cx, cy = (box[0] + box[2]) / 2 / scene.width, (box[1] + box[3]) / 2 / scene.height
    return GRID[min(int(cy * 3), 2)][min(int(cx * 3), 2)]


def left_to_right(objects) -> list:
    """Objects in reading order of the ``name`` answer: by box centre x, then top edge."""
    return sorted(objects, key=lambda o: (o.box[0] + o.box[2], o.box[1]))


def most_objects(progress: float, most: int, grow: bool) -> int:
    """The most objects of a pretraining scene at ``progress`` (0..1): the profile's ``most``, or with ``grow``
    (``--grow-scenes``) ``GROW_SCENES[0]`` rising linearly to it by ``GROW_SCENES[1]`` of the run."""
    if not grow:
        return most
    start, full = GROW_SCENES
    return min(most, round(start + (most - start) * min(1.0, progress / full)))


def make_sample(seed: int, index: int, progress: float, vocab: list[Domain], profile: str, family: str,
                min_pixels: int, max_pixels: int, turns: int = 3, partial: bool = False, grow: bool = False
                ) -> Sample:
    """Sample ``index`` of the pretraining stream of ``seed``: a new scene and ``turns`` tasks about it, drawn
    from the curriculum at ``progress`` (several questions per image, as in LLaVA-style conversations: each
    answer is supervised, the image is encoded once). ``partial``: detection answers list the first k objects only,
    k drawn from ``PARTIAL_DETECTION[profile]``; ``grow``: scenes hold at most ``most_objects(progress)``."""
    rng = _rng(seed, "pretrain", index)
    p = PROFILES[profile]
    weights = [COCO_SHARE] + [(1 - COCO_SHARE) / (len(vocab) - 1)] * (len(vocab) - 1)
    dom = vocab[int(rng.choice(len(vocab), p=weights))]
    drawn = [c for c in dom.categories if dom.looks.get(c)]
    items = []
    for _ in range(int(rng.integers(1, most_objects(progress, p.most, grow) + 1))):
        label = drawn[int(rng.integers(len(drawn)))]
        shape, colour = dom.looks[label]
        items.append((shape, colour or COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))], label))
    scene = make_scene(rng, f"pretrain/{index}", items, profile=p)
    objects = left_to_right(scene.objects)
    present = list(dict.fromkeys(o.label for o in objects))
    seen = ", ".join(f"{o.colour} {o.shape}" for o in objects)
    templates, adapter = load_templates(family), get_adapter(family)
    geo = adapter.geometry(scene.width, scene.height, min_pixels=min_pixels, max_pixels=max_pixels)
    out: list[tuple[str, str, str]] = []
    for task in rng.choice(len(TASKS), size=turns, p=task_weights(progress)):
        task = TASKS[int(task)]
        asked = present[int(rng.integers(len(present)))] if present else None
        if task == "name" or asked is None:
            out.append(("name", NAME_PROMPT, seen or "None"))
        elif task == "where":
            out.append((task, WHERE_PROMPT.format(category=asked),
                        ", ".join(_region(scene, o.box) for o in objects if o.label == asked)))
        elif task == "ground":
            gt = [{"bbox": list(o.box), "label": o.label} for o in objects if o.label == asked]
            out.append((task, templates["grounding"][0].render([asked]), adapter.serialize(gt, geo)))
        else:
            listed = objects
            if partial:
                shares = PARTIAL_DETECTION[profile]
                listed = objects[:1 + int(rng.choice(len(shares), p=shares))]
            gt = [{"bbox": list(o.box), "label": o.label} for o in listed]
            out.append((task, templates["detection"][0].render(list(dom.categories)), adapter.serialize(gt, geo)))
    return Sample(scene, tuple(dict.fromkeys(out)))  # a question asked twice is asked once


def collate(samples: list[Sample], processor, images: list) -> dict:
    """Model inputs of a batch of conversations, right-padded, with labels on the answers (each with its
    ``<|im_end|>``) only. The first user turn (system prompt, image, question) goes through the processor; the
    later turns are tokenized around the chat template's special tokens, where tokenization splits anyway."""
    import torch

    tok = processor.tokenizer
    tok.padding_side = "right"
    first = [processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": s.turns[0][1]}]}],
        tokenize=False, add_generation_prompt=True) for s in samples]
    batch = processor(text=first, images=images, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1).tolist()
    texts, owners, labelled = [], [], []
    for i, s in enumerate(samples):
        for t, (_, _, answer) in enumerate(s.turns):
            texts.append(answer + "<|im_end|>")
            owners.append(i)
            labelled.append(True)
            if t + 1 < len(s.turns):
                texts.append(f"\n<|im_start|>user\n{s.turns[t + 1][1]}<|im_end|>\n<|im_start|>assistant\n")
                owners.append(i)
                labelled.append(False)
    rows = [(batch["input_ids"][i, :n].tolist(), [-100] * n) for i, n in enumerate(lengths)]
    for i, ids, lab in zip(owners, tok(texts, add_special_tokens=False)["input_ids"], labelled, strict=True):
        rows[i][0].extend(ids)
        rows[i][1].extend(ids if lab else [-100] * len(ids))
    width = max(len(r[0]) for r in rows)
    pad = tok.pad_token_id
    batch["input_ids"] = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    batch["labels"] = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    batch["attention_mask"] = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    if "mm_token_type_ids" in batch:  # 1 on image tokens (the processor's, extended to the longer rows)
        batch["mm_token_type_ids"] = (batch["input_ids"] == processor.image_token_id).long()
    return dict(batch)


def answer_tokens(batch: dict) -> int:
    """The answer tokens of a batch: the positions ``answer_loss`` scores."""
    return int((batch["labels"][:, 1:] != -100).sum())


def answer_loss(model, batch: dict, tokens: int | None = None):
    """Cross-entropy summed over the answer tokens, over ``tokens`` (default: the batch's own, the mean; a part of a
    step passes the step's, so that the parts' losses add up to the step's mean); the language-model head runs on
    those positions only (most of a sequence is prompt, image and padding, and the head is a fifth of the small
    model's compute)."""
    import torch.nn.functional as F

    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model.model(**inputs).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    logits = model.lm_head(hidden[keep])
    return F.cross_entropy(logits.float(), target[keep], reduction="sum") / (tokens or int(keep.sum()))


SHIPPED = "shapes-base"  # models/<SHIPPED>: the base made by this module, committed with the project
STATE = "pretrain-state"  # resumable training state inside --out, removed when the run completes
LOG = "pretrain.jsonl"
RUN_LOG = "pretrain-run{}.jsonl"  # an earlier run's log in a checkpoint continued with --init
STATE_KEYS = {"model": dict, "optimizer": dict, "step": int}  # what state.pt holds
PROBE_INDEX = 10**9  # the held-out probe's samples come from a part of the stream training never reaches


def shipped_base() -> Path:
    """The pretrained synthetic base shipped in ``models/`` (see its card for the command that made it)."""
    from visionr1.resources import resource_dir

    path = resource_dir("models") / SHIPPED
    if not (path / "model.safetensors.index.json").is_file():
        raise VisionR1Error(f"the shipped base model {path} is missing its weights (a checkout without them?); "
                            "make it with `visionr1 synth pretrain` (command in docs/synth.md)")
    return path


def world_info(world: Path) -> dict:
    """Seed and profile of a world written by ``visionr1 synth world``."""
    from visionr1.synth.writers import load_summary

    info = load_summary(world)
    return {"seed": int(info["seed"]), "profile": str(info.get("profile", "standard"))}


def check_world(world: Path) -> dict:
    """``world_info`` of a world that pretraining is sized for."""
    info = world_info(world)
    if info["profile"] not in PROFILES_PRETRAINED:
        raise VisionR1Error(f"{world}: pretraining is sized for the {' and '.join(PROFILES_PRETRAINED)} profiles "
                            f"(small images, few or many large objects); this world is '{info['profile']}'")
    return info


def check_init(init: Path, out: Path, world: dict, size: str) -> int:
    """The ``--init`` folder is a complete checkpoint of ``synth pretrain`` (card, config, every weight shard) on
    a world of this seed at ``size``; returns the first image of the stream after its run. Checked before
    anything in ``--out`` is touched."""
    from visionr1.inputs import check_document, check_value, read_json, resolved
    from visionr1.models import check_weights
    from visionr1.synth.tiny_model import CARD, read_card

    if resolved(init) == resolved(out):
        raise VisionR1Error(f"--init {init} is --out: write the continued checkpoint to another folder")
    info = read_card(init)
    made = info.get("pretrain")
    if not made or not (init / "model.safetensors.index.json").is_file():
        raise VisionR1Error(f"--init {init}: not a checkpoint of `visionr1 synth pretrain` (no pretraining "
                            f"record in {init / CARD})")
    card = f"--init {init / CARD}: pretrain record"
    check_document(made, card, dict, {"world": dict, "config": dict})
    check_document(made["world"], f"{card} world", dict, {"seed": int})
    config = check_document(made["config"], f"{card} config", dict, {"steps": int, "batch_size": int})
    check_document(info, f"--init {init / CARD}", dict, {"size": str})
    if made["world"]["seed"] != world["seed"] or info["size"] != size:
        raise VisionR1Error(f"--init {init} was pretrained on a world of seed {made['world']['seed']} at size "
                            f"'{info['size']}'; continue it on such a world with that --size")
    read_json(init / "config.json", dict, {"model_type": str})
    check_weights(init)
    first = check_value(config.get("first_image", 0), int, f"{card} config: key 'first_image'")
    return first + config["steps"] * config["batch_size"]


def _lr(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _batch(cfg: PretrainConfig, world: dict, vocab: list[Domain], processor, first: int, progress: float,
           limits: tuple[int, int], parts: int = 1) -> list[dict]:
    """The conversations of a step, in ``parts`` batches (``length_parts``)."""
    samples = [make_sample(cfg.seed, first + j, progress, vocab, world["profile"], cfg.family, *limits,
                           turns=cfg.turns, partial=cfg.partial_detection, grow=cfg.grow_scenes)
               for j in range(cfg.batch_size)]
    return length_parts(samples, processor, [s.scene.render() for s in samples], parts)


def length_parts(samples: list[Sample], processor, images: list, parts: int) -> list[dict]:
    """``collate`` of the conversations in ``parts`` batches of neighbouring lengths (shortest first; as equal in
    size as they split), each padded to its own longest row: a dense scene's answer is several times a sparse
    one's, and one batch padded to the longest is 30-41% padding (benchmarks/pretrain_step.py)."""
    import numpy as np

    whole = collate(samples, processor, images)
    if parts <= 1 or len(samples) < 2:
        return [whole]
    order = np.argsort(whole["attention_mask"].sum(1).numpy(), kind="stable")
    return [collate([samples[i] for i in g], processor, [images[i] for i in g])
            for g in np.array_split(order, min(parts, len(samples)))]


def probe(model, batch: dict) -> dict[str, float]:
    """Answer loss on held-out conversations with their own images and with the images rotated by one within
    the batch: a model that reads its image loses far more on the second."""
    import torch

    model.eval()
    with torch.no_grad():
        real = answer_loss(model, batch).item()
        grids = batch["image_grid_thw"]
        per_image = (grids.prod(-1)).tolist()
        chunks = list(torch.split(batch["pixel_values"], per_image))
        shuffled = dict(batch, pixel_values=torch.cat(chunks[1:] + chunks[:1]))
        other = answer_loss(model, shuffled).item()
    model.train()
    return {"probe_loss": round(real, 4), "probe_loss_shuffled_images": round(other, 4)}


# how often to save, probe and log, and how a step is split (the same gradients): a resume may change them
MAY_CHANGE = ("save_every", "probe_every", "log_every", "length_groups")


def train_device() -> str:
    """Where pretraining runs: a GPU (bfloat16 autocast) if there is one, else the CPU (float32)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_record(cfg: PretrainConfig, world: dict) -> dict:
    """What decides a pretraining run's weights, kept in its state folder: the world's seed and profile (every
    sample is drawn from them), the device (bfloat16 autocast on a GPU, float32 on the CPU) and the options."""
    return {"world": world, "device": train_device(), **asdict(cfg)}


def check_resume(out: Path, cfg: PretrainConfig, world: dict) -> None:
    """An interrupted run in ``out`` that was started with ``cfg`` on a world like ``world`` (``run_record``; the
    options of ``MAY_CHANGE`` aside): otherwise one line naming each difference."""
    from visionr1.inputs import load_torch, read_json
    from visionr1.io import record_differences

    state_dir = Path(out) / STATE
    if not (state_dir / "state.pt").is_file():
        raise VisionR1Error(f"--resume: {out} holds no interrupted pretraining run ({STATE}/state.pt)")
    started = read_json(state_dir / "config.json", dict)
    load_torch(state_dir / "state.pt", STATE_KEYS)  # small (a synthetic model's): read in full before any work
    # an option added since the run started was at its default there (what the run did)
    started = {**asdict(PretrainConfig()), **started}
    differ = record_differences(started, run_record(cfg, world), ignore=MAY_CHANGE)
    if differ:
        raise VisionR1Error(f"--resume: {out} was started with other options ({'; '.join(differ)}); resume it with "
                            "those")


def pretrain(world: Path, out: Path, cfg: PretrainConfig, *, resume: bool = False,
             log: Callable[[dict], None] = print) -> float:
    """Pretrain a synthetic checkpoint of ``cfg.size`` on the world in ``world`` and write it to ``out`` (hub
    layout, card with the recipe). Resumable: a training state is kept in ``out/pretrain-state`` every
    ``save_every`` steps and removed at the end. Returns the seconds spent training, over all resumed parts."""
    import torch

    from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS
    from visionr1.inputs import load_torch
    from visionr1.models import load_model
    from visionr1.synth.tiny_model import build_tiny_model, save_weights
    from visionr1.train.checkpoints import cut_metrics

    info = check_world(world)
    out = Path(out)
    state_dir = out / STATE
    if resume:
        check_resume(out, cfg, info)
    else:
        if cfg.init:  # its files, its log kept as pretrain-run<k>.jsonl beside the earlier runs' logs
            init = Path(cfg.init)
            earlier = len(list(init.glob(RUN_LOG.format("*"))))
            for f in init.iterdir():
                if f.is_file():
                    shutil.copyfile(f, out / (RUN_LOG.format(earlier + 1) if f.name == LOG else f.name))
        else:
            build_tiny_model(out, size=cfg.size, seed=cfg.seed, force=True)
        state_dir.mkdir()
        (state_dir / "config.json").write_text(json.dumps(run_record(cfg, info)))
        (out / LOG).unlink(missing_ok=True)
    device = train_device()
    model, processor = load_model(str(out), family=cfg.family, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.learning_rate, betas=(0.9, 0.98))
    start, before = 0, 0.0
    if resume:
        where = state_dir / "state.pt"
        state = load_torch(where, STATE_KEYS, map_location=device)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise VisionR1Error(f"{where}: not the state of this model ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]})") from None
        start, before = state["step"], float(state.get("seconds", 0.0))
        cut_metrics(out / LOG, start)
    vocab = domains(info["seed"])
    limits = (MIN_PIXELS, MAX_PIXELS)
    probe_batch = {k: v.to(device)
                   for k, v in _batch(cfg, info, vocab, processor, PROBE_INDEX, 1.0, limits)[0].items()}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu",
                                                                                                       enabled=False)
    t0, running = time.perf_counter(), []
    for step in range(start, cfg.steps):
        progress = step / cfg.steps
        first = cfg.first_image + step * cfg.batch_size
        batches = _batch(cfg, info, vocab, processor, first, progress, limits, cfg.length_groups)
        for group in opt.param_groups:
            group["lr"] = _lr(step, cfg)
        tokens, loss = sum(map(answer_tokens, batches)), 0.0
        for batch in batches:  # the parts' gradients add up to the step's (the mean over all its answer tokens)
            with autocast:
                part = answer_loss(model, {k: v.to(device) for k, v in batch.items()}, tokens)
            part.backward()
            loss += part.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        running.append(loss)
        done = step + 1
        if done % cfg.probe_every == 0 or done == cfg.steps or done % cfg.log_every == 0:
            row = {"step": done, "loss": round(sum(running) / len(running), 4), "lr": _lr(step, cfg),
                   "phase": phase(progress),
                   "seconds_per_step": round((time.perf_counter() - t0) / (done - start), 3)}
            running = []
            if done % cfg.probe_every == 0 or done == cfg.steps:
                with autocast:
                    row.update(probe(model, probe_batch))
            with open(out / LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            log(row)
        if done % cfg.save_every == 0 and done < cfg.steps:
            tmp = state_dir / "state.pt.tmp"
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done,
                        "seconds": before + time.perf_counter() - t0}, tmp)
            tmp.replace(state_dir / "state.pt")
    seconds = before + time.perf_counter() - t0
    save_weights(model.to("cpu"), out)
    shutil.rmtree(state_dir, ignore_errors=True)
    return seconds


def stages(p: dict) -> list[dict]:
    """The pretraining runs that made a checkpoint, first to last (each ``--init`` continues the one before)."""
    return [*stages(p["init"]), p] if p.get("init") else [p]


def card_body(info: dict) -> str:
    """The card's text: how to reproduce the checkpoint and what it scores on held-out synthetic sets."""
    p = info["pretrain"]
    runs = stages(p)
    outs = [f"stage{i}" for i in range(1, len(runs))] + ["base"]
    profiles = list(dict.fromkeys(r["world"]["profile"] for r in runs))  # the worlds of the runs, first seen first
    folder = {q: "world" if len(profiles) == 1 else f"world-{q}" for q in profiles}
    worlds = "\n".join(f"visionr1 synth world --out {folder[q]} --profile {q} --images 1000 --seed "
                       f"{p['world']['seed']}" for q in profiles)
    commands = "\n".join(r["command"].replace("<world>", folder[r["world"]["profile"]]).replace("<out>", out)
                         .replace("<init>", prev) for r, out, prev in zip(runs, outs, ["", *outs[:-1]], strict=True))
    rows = "\n".join(f"| {name} | {m['queries']} | {m['mAP']:.1f} | {m['AP50']:.1f} | {m['AR100']:.1f} | "
                     f"{m['reward']:.2f} |" for name, m in p["heldout"]["all"].items())
    ran = "; ".join(f"{r['hardware']}, {r['wall_seconds'] / 60:.0f} min for {r['config']['steps']:,} steps of "
                    f"{r['config']['batch_size']} images ({r['config']['turns']} questions each)" for r in runs)
    before = "".join(f"\n\nBefore run {i + 2} continued it, run {i + 1} scored: " + ", ".join(
        f"{name} mAP {m['mAP']:.1f} / AP50 {m['AP50']:.1f}" for name, m in r["heldout"]["all"].items()) + "."
        for i, r in enumerate(runs[:-1]))
    return (f"A `{info['size']}` synthetic Qwen2.5-VL ({info['parameters']:,} parameters, hub file layout) pretrained "
            f"from random weights on the synthetic shapes world (seed {p['world']['seed']}, {p['world']['profile']} "
            "profile) by `visionr1 synth pretrain`: the base model of `visionr1 demo` and `benchmarks/learning.py`, "
            "which localizes imperfectly, as Qwen2.5-VL-7B does before Vision-R1.\n\n"
            f"## Reproduce\n\n```\n{worlds}\n{commands}\n```\n\n"
            f"Hardware and wall time: {ran}. Curriculum of each run "
            "(share of its steps where a phase starts: weights of name / where / ground / detect): "
            + "; ".join(f"{start:.0%}: {' / '.join(f'{w:.1f}' for w in ws)}" for start, ws in p["curriculum"])
            + "".join(f". Run {i + 1} ({r['world']['profile']} world) answered detection questions with the first k "
                      "objects of the scene in reading order, not all of them (k = 1, 2, ... with shares "
                      + " / ".join(f"{x:.2f}" for x in r["partial_detection"]) + "), as real base models name a few "
                      "objects of a crowded image" for i, r in enumerate(runs) if r.get("partial_detection"))
            + ".\n\n## Held-out results\n\nThe world's COCO val2017 images (never seen in pretraining), "
            "`visionr1 eval custom`, greedy decoding: grounding = `--protocol single+pos` (one category asked), "
            "detection = `--protocol all` (every category named).\n\n"
            "| task | queries | mAP | AP50 | AR100 | mean reward (0-3) |\n|---|---|---|---|---|---|\n" + rows
            + before + "\n")


def image_reliance(model_path: str | Path, world_seed: int, profile: str = "simple", n: int = 32,
                   family: str = "qwen2.5-vl") -> dict[str, float]:
    """A model's answer loss on ``n`` held-out detection queries (the world's COCO val2017 scenes, every category
    named, the ground truth as answer) with their own images and with the images rotated within the batch. A model
    that ignores its image scores the same on both."""
    import torch

    from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS
    from visionr1.models import load_model
    from visionr1.synth.world import coco_scenes

    model, processor = load_model(str(model_path), family=family, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    adapter, prompt = get_adapter(family), load_templates(family)["detection"][0].render(list(COCO_SHAPES))
    samples = []
    for scene in coco_scenes(world_seed, "val2017", n, profile):
        geo = adapter.geometry(scene.width, scene.height, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
        answer = adapter.serialize([{"bbox": list(o.box), "label": o.label} for o in scene.objects], geo)
        samples.append(Sample(scene, (("detect", prompt, answer),)))
    batch = collate(samples, processor, [s.scene.render() for s in samples])
    with torch.no_grad():
        got = probe(model.float(), batch)
    return {"loss": got["probe_loss"], "loss_shuffled_images": got["probe_loss_shuffled_images"]}
