"""Evaluation modes. ``default``: visionr1's evaluation, which corrects choices of the released one; ``released``:
the choices of the released Vision-R1 evaluation (``Vision-R1/eval/eval_localization.py``, the Qwen2.5-VL path),
reproduced. Every report states its mode and lists what differs from the released evaluation (default mode) or
what a released-mode run does not reproduce. This module decides every mode-dependent setting."""

from __future__ import annotations

from dataclasses import dataclass

from visionr1.errors import VisionR1Error

MODES = ("default", "released")
RELEASED_FAMILY = "qwen2.5-vl"
RELEASED_BENCHMARKS = ("coco", "odinw", "ood", "custom")
RELEASED_MAX_NEW_TOKENS = 512
RELEASED_SCORE = 0.99


@dataclass(frozen=True)
class ModeSettings:
    """Defaults of a mode (used where a run does not set them)."""

    min_pixels: int
    max_pixels: int
    batch_size: int
    evaluator: str


DEFAULTS = {
    # training defaults (docs/spec.md §1); batched generation; faster-coco-eval (identical statistics, faster)
    "default": ModeSettings(3136, 401408, 8, "faster-coco-eval"),
    # AutoProcessor.from_pretrained(..., min_pixels=28*28, max_pixels=12800*28*28); batch size 1 (asserted);
    # pycocotools COCOeval
    "released": ModeSettings(28 * 28, 12800 * 28 * 28, 1, "pycocotools"),
}


def check_mode(mode: str, family: str, benchmark: str) -> None:
    """A one-line error for a mode that does not exist or cannot reproduce this run."""
    if mode not in MODES:
        raise VisionR1Error(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    if mode == "released" and family != RELEASED_FAMILY:
        raise VisionR1Error(f"--mode released reproduces the released evaluation's Qwen2.5-VL path (--family "
                            f"{RELEASED_FAMILY}); its Griffon-G path scores boxes with token probabilities, which "
                            "visionr1 does not offer")
    if mode == "released" and benchmark not in RELEASED_BENCHMARKS:
        raise VisionR1Error(f"--mode released covers {', '.join(RELEASED_BENCHMARKS)}: the released evaluation has "
                            f"no Qwen2.5-VL path for '{benchmark}'")


def differences(mode: str, *, protocol: str, min_pixels: int, max_pixels: int, decoding: dict, batch_size: int,
                score_policy: str, evaluator: str, limit: int | None, padded: bool,
                empty_sets: tuple[str, ...] = ()) -> list[str]:
    """What a run does differently from the released evaluation (default mode), or what a released-mode run does
    not reproduce. Each line names both choices. ``padded``: a set of the run has 2-79 categories (the released
    prompts of the ``all`` protocol pad it to 80 names); ``empty_sets``: the sets without a single detection."""
    released = DEFAULTS["released"]
    out = []
    if empty_sets or mode == "default":  # kept in both modes: a crash is nothing to reproduce
        out.append("a set without a single detection scores 0.0" + (f" ({', '.join(empty_sets)})" if empty_sets
                                                                    else "")
                   + " (released: pycocotools' loadRes raises on it and the sets after it are never scored)")
    if (min_pixels, max_pixels) != (released.min_pixels, released.max_pixels):
        out.append(f"pixel limits {min_pixels} / {max_pixels} (released: {released.min_pixels} / "
                   f"{released.max_pixels})")
    if decoding.get("max_new_tokens", RELEASED_MAX_NEW_TOKENS) != RELEASED_MAX_NEW_TOKENS:
        out.append(f"max_new_tokens {decoding['max_new_tokens']} (released: {RELEASED_MAX_NEW_TOKENS})")
    if batch_size != released.batch_size and decoding.get("backend") in ("hf", "vllm"):
        out.append(f"batch size {batch_size}, left padding (released: 1)")
    if score_policy != "constant":
        out.append(f"score policy {score_policy} (released: constant {RELEASED_SCORE})")
    if evaluator != released.evaluator:
        out.append(f"evaluator {evaluator} (identical statistics; released: {released.evaluator})")
    if limit is not None:
        out.append(f"--limit {limit}: only the answered images are evaluated (released: every image of the file)")
    if mode == "released":
        if protocol == "all" and padded:
            out.append("prompts padded to 80 names with COCO categories in COCO order (released: in the order of "
                       "a Python set, which changes from run to run)")
        return out
    if decoding.get("backend") in ("hf", "vllm"):
        out.append(f"decoding: greedy with repetition_penalty {decoding.get('repetition_penalty', 1.0)} (released: "
                   "greedy with the checkpoint's generation config, repetition_penalty 1.05 for Qwen2.5-VL-7B)")
        out.append("images go to the processor as they are (released: resized by qwen_vl_utils first, within "
                   "3136 / 12845056 pixels)")
    if protocol == "single+pos":
        out.append("single+pos: every box counts as the asked category (released: its label is looked up and the "
                   "box dropped when the label names no category)")
        out.append("single+pos: an image's categories are asked in id order; as every box counts as the asked "
                   "category, one query holds all boxes of an (image, category) and the order cannot change the "
                   "scores (released: in the order of the file's category list, which decides matching when "
                   "boxes with tied scores are labelled by name)")
        out.append("single+pos: a category present in an image only as crowd regions is not asked (released: "
                   "asked, and its boxes scored against the crowd regions)")
    else:
        out.append("prompts list the set's categories (released: padded to 80 names with COCO categories; a "
                   "one-category set is asked 'Can you point out <name> in the image ...')")
    return [
        *out,
        "labels: the category of exactly that name, else the one equal up to case and spacing (released: "
        "{name.lower(): id}, so names equal in lower case collapse onto the last category)",
        "annotation ids renumbered from 1 (released: as in the file; an annotation with id 0 is never matched)",
        "ground-truth boxes without area are dropped, counted (released: kept, objects no box can match)",
        "an image whose file has another size than its annotation is left out with its ground truth, counted "
        "(released: scored, the model input from the file and the boxes scaled back by the annotated size)",
        "parsing: lenient (bare objects, fences with trailing spaces, numbers as strings are read; boxes with "
        "x1 > x2 dropped, boxes clipped to the image) (released: parse_json + ast.literal_eval, boxes as written)",
    ]


# COCO_NAMES of the released evaluation: the 80 COCO categories in COCO order
COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")


def released_category_prompt(names: list[str], render) -> str:
    """The released evaluation's prompt naming every category of a set (its ``EVALDataset``): a set of 80 or more
    categories is named as it is; a smaller one is padded to 80 names with COCO categories it lacks; a set of one
    category is asked "Can you point out <name> ...?" (the part after the last "-" of its name). ``render``
    fills the detection template with a list of names."""
    if len(names) == 1:
        return (f"Can you point out {names[0].split('-')[-1]} in the image and provide the coordinates of its "
                "location?")
    if len(names) < 80:
        names = [*names, *[n for n in COCO_NAMES if n not in set(names)][:80 - len(names)]]
    return render(names)
