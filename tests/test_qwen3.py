"""Qwen3-VL (dense, MoE, Thinking) and Qwen3.5 stand-ins: hub file sets that load as downloaded checkpoints do,
answers on the 0-1000 grid scored through each family's real processor, Thinking answers read after </think>."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import load_hub_checkpoint, run_cli, small_mix
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from visionr1.eval.runner import answer, score
from visionr1.eval.sets import box_set
from visionr1.formats import get_adapter, split_think
from visionr1.models import build_processor, input_size
from visionr1.synth.tiny_model import QWEN3_SPECIAL_TOKENS, read_card

FAMILIES = ("qwen3-vl", "qwen3-vl-moe", "qwen3.5", "qwen3.5-moe")
MODEL_CLASSES = {"qwen3-vl": "Qwen3VLForConditionalGeneration", "qwen3-vl-moe": "Qwen3VLMoeForConditionalGeneration",
                 "qwen3.5": "Qwen3_5ForConditionalGeneration", "qwen3.5-moe": "Qwen3_5MoeForConditionalGeneration"}
# the files of the hub's Qwen3-VL / Qwen3.5 repos (weights in shards named by the index)
HUB_FILES = {".gitattributes", "README.md", "chat_template.json", "config.json", "generation_config.json",
             "merges.txt", "model.safetensors.index.json", "preprocessor_config.json", "tokenizer.json",
             "tokenizer_config.json", "video_preprocessor_config.json", "vocab.json"}
# image sizes (width, height): multiples of 32 and not, tall, wide, below the checkpoint's min_pixels
SIZES = ((640, 480), (333, 517), (101, 67), (1000, 333), (45, 700))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("qwen3")
    out = {}
    for family in FAMILIES:
        out[family] = root / family
        assert run_cli("synth", "tiny-model", "--family", family, "--out", out[family]) == 0
    out["thinking"] = root / "thinking"
    assert run_cli("synth", "tiny-model", "--family", "qwen3-vl", "--thinking", "--out", out["thinking"]) == 0
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_like_the_hub_checkpoint(checkpoints, family):
    path = checkpoints[family]
    names = {p.name for p in path.iterdir()}
    shards = {n for n in names if n.startswith("model-")}
    assert names - shards == HUB_FILES and len(shards) > 1
    index = json.loads((path / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index.values()) == shards
    # the hub's tensor names (Qwen3-VL repos ship the model.language_model / model.visual layout)
    assert "lm_head.weight" in index and any(k.startswith("model.visual.blocks.0.") for k in index)
    assert any(k.startswith("model.language_model.layers.0.") for k in index)
    if family.startswith("qwen3-vl"):
        assert any(k.startswith("model.visual.deepstack_merger_list.") for k in index)
    if family.endswith("-moe"):
        assert any(".mlp.experts." in k for k in index) and any(".mlp.gate." in k for k in index)
    if family.startswith("qwen3.5"):
        assert any(".linear_attn." in k for k in index) and any(".self_attn." in k for k in index)
    processor, model, warnings = load_hub_checkpoint(path)
    assert not warnings, warnings
    assert type(model).__name__ == MODEL_CLASSES[family] and type(processor).__name__ == "Qwen3VLProcessor"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000 and next(model.parameters()).dtype == torch.bfloat16
    # what a plain from_pretrained of the real checkpoint gives: right padding, the hub's pixel limits, 16 px
    # patches merged 2x2, the published sampling
    assert processor.tokenizer.padding_side == "right"
    ip = processor.image_processor
    assert (ip.size["shortest_edge"], ip.size["longest_edge"], ip.patch_size, ip.merge_size) == (65536, 16777216, 16, 2)
    gen = model.generation_config
    assert (gen.do_sample, gen.temperature, gen.top_p, gen.top_k) == (True, 0.7, 0.8, 20)
    tok = processor.tokenizer
    ids = tok.convert_tokens_to_ids(list(QWEN3_SPECIAL_TOKENS))
    assert ids == list(range(ids[0], ids[0] + len(ids))) and model.config.text_config.vocab_size == len(tok)
    assert model.config.image_token_id == processor.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    text = "<think>\nthe circle is left\n</think>\n\n```json\n[]\n```"
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text  # think tokens survive decoding
    prompt = processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "Locate every circle."}]}], add_generation_prompt=True)
    # no default system message; Qwen3.5 closes an empty think block unless asked to think (Qwen3.5-0.8B's default)
    think = "<think>\n\n</think>\n\n" if family.startswith("qwen3.5") else ""
    assert prompt == ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Locate every circle.<|im_end|>\n"
                      "<|im_start|>assistant\n" + think)
    inputs = processor(text=[prompt], images=[Image.new("RGB", (101, 67))], return_tensors="pt")
    _, h, w = inputs["image_grid_thw"][0].tolist()
    assert (h * 16, w * 16) == get_adapter("qwen3-vl").geometry(101, 67, min_pixels=65536,
                                                                max_pixels=16777216)[2:][::-1]
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == h * w // 4
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert 1 <= out.shape[1] - inputs["input_ids"].shape[1] <= 6
    assert read_card(path)["family"] == family


def test_hub_values_come_from_their_sources(checkpoints):
    """Values checked against transformers 5.25's own defaults for the real checkpoints (docs/models.md, "Where
    each value comes from"): the M-RoPE split, the vision token ids' order, Qwen3.5's tokenizer, its empty
    DeepStack list and its think switch."""
    from transformers import Qwen3_5Config, Qwen3VLConfig
    from transformers.models.qwen3_5.configuration_qwen3_5 import Qwen3_5TextConfig
    from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5TextRotaryEmbedding
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRotaryEmbedding

    from visionr1.synth.qwen3_files import chat_template, mrope_section

    # the split rule at the real head sizes gives the real split: [24, 20, 20] (Qwen3-VL, head_dim 128) and
    # [11, 11, 10] (Qwen3.5, 25% of head_dim 256)
    assert mrope_section("qwen3-vl", 128) == Qwen3VLTextRotaryEmbedding(Qwen3VLTextConfig()).mrope_section
    assert mrope_section("qwen3.5", 64) == Qwen3_5TextRotaryEmbedding(Qwen3_5TextConfig()).mrope_section
    for family, real in (("qwen3-vl", Qwen3VLConfig()), ("qwen3-vl-moe", Qwen3VLConfig()),
                         ("qwen3.5", Qwen3_5Config()), ("qwen3.5-moe", Qwen3_5Config())):
        config = json.loads((checkpoints[family] / "config.json").read_text())
        text = config["text_config"]
        rope = text.get("rope_parameters") or text["rope_scaling"]
        rotary = int(text["head_dim"] * rope.get("partial_rotary_factor", 1.0))
        assert sum(rope["mrope_section"]) == rotary // 2 and min(rope["mrope_section"]) > 0, (family, rope)
        # the vision tokens in the real vocabulary's order (image = vision_start + 3, video + 4, end + 1)
        start = config["vision_start_token_id"]
        assert [config[k] - start for k in ("vision_end_token_id", "image_token_id", "video_token_id")] == [
            real.vision_end_token_id - real.vision_start_token_id, real.image_token_id - real.vision_start_token_id,
            real.video_token_id - real.vision_start_token_id]
        if family.startswith("qwen3.5"):
            assert config["vision_config"]["deepstack_visual_indexes"] == []
    # Qwen3.5: transformers' test of Qwen/Qwen3.5-9B: Qwen3_5Tokenizer (the hub names Qwen2Tokenizer, which
    # transformers overrides), eos <|im_end|>, pad <|endoftext|>, no bos or unk; the text config's eos is
    # <|endoftext|>; the old vision model_type "qwen3_5" is mapped to qwen3_5_vision
    path = checkpoints["qwen3.5"]
    processor = AutoProcessor.from_pretrained(path)
    tok = processor.tokenizer
    assert type(tok).__name__ == "Qwen3_5Tokenizer"
    assert (tok.eos_token, tok.pad_token, tok.bos_token, tok.unk_token) == ("<|im_end|>", "<|endoftext|>", None, None)
    assert json.loads((path / "tokenizer_config.json").read_text())["tokenizer_class"] == "Qwen2Tokenizer"
    config = AutoModelForImageTextToText.from_pretrained(path).config
    assert config.text_config.eos_token_id == tok.convert_tokens_to_ids("<|endoftext|>")
    assert config.vision_config.model_type == "qwen3_5_vision"
    # the think switch: Instruct-style default closes an empty block unless enable_thinking; --thinking opens one
    # unless enable_thinking is false
    chat = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]

    def prompt(thinking: bool, **kwargs) -> str:
        return processor.apply_chat_template(chat, chat_template=chat_template(thinking, "qwen3.5"),
                                             add_generation_prompt=True, **kwargs)
    assert prompt(False).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert prompt(False, enable_thinking=True).endswith("<|im_start|>assistant\n<think>\n")
    assert prompt(True).endswith("<|im_start|>assistant\n<think>\n")
    assert prompt(True, enable_thinking=False).endswith("<think>\n\n</think>\n\n")


def test_thinking_variant(checkpoints):
    path = checkpoints["thinking"]
    processor = AutoProcessor.from_pretrained(path)
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                                           add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")  # completions start inside the think block
    gen = json.loads((path / "generation_config.json").read_text())
    assert (gen["temperature"], gen["top_p"], gen["top_k"]) == (1.0, 0.95, 20)
    assert read_card(path)["thinking"] is True
    assert "Qwen3-VL-8B-Thinking" in (path / "README.md").read_text()


def test_thinking_refused_for_qwen2_5(tmp_path, capsys):
    assert run_cli("synth", "tiny-model", "--family", "qwen2.5-vl", "--thinking", "--out", tmp_path / "m") == 2
    assert "--thinking" in capsys.readouterr().err and not (tmp_path / "m").exists()


@settings(max_examples=40, deadline=None)
@given(w=st.integers(8, 2000), h=st.integers(8, 2000), lo=st.sampled_from([1024, 3136, 65536, 200704]),
       hi=st.sampled_from([100352, 401408, 1003520, 16777216]))
def test_geometry_guard_matches_the_real_processor(checkpoints, w, h, lo, hi):
    """The qwen3-vl adapter's factor-32 geometry is the real Qwen3-VL processor's input size."""
    if max(w, h) / min(w, h) > 200:
        return
    processor = _processor(checkpoints["qwen3-vl"])
    processor.image_processor.size = {"shortest_edge": lo, "longest_edge": hi}
    geo = get_adapter("qwen3-vl").geometry(w, h, min_pixels=lo, max_pixels=hi)
    assert input_size(processor, w, h) == (geo.input_width, geo.input_height)


_PROCESSORS: dict = {}


def _processor(path):
    if path not in _PROCESSORS:
        _PROCESSORS[path] = AutoProcessor.from_pretrained(path)
    return _PROCESSORS[path]


def test_geometry_guard_refuses_factor_28(checkpoints):
    """A Qwen3 checkpoint evaluated as Qwen2.5-VL (28 px per token) is refused before any answer."""
    from visionr1.errors import VisionR1Error

    with pytest.raises(VisionR1Error, match="coordinate adapter computes"):
        build_processor(str(checkpoints["qwen3-vl"]), family="qwen2.5-vl", min_pixels=3136, max_pixels=401408)


def _sized_set(tmp_path, family: str):
    """A COCO-format set of one image per size in SIZES, 2-3 boxes each."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    (tmp_path / "images").mkdir()
    for i, (w, h) in enumerate(SIZES, start=1):
        Image.new("RGB", (w, h), (90, 120, 150)).save(tmp_path / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": w, "height": h})
        for _ in range(int(rng.integers(2, 4))):
            x1, x2 = sorted(rng.uniform(0, w, 2))
            y1, y2 = sorted(rng.uniform(0, h, 2))
            x2, y2 = max(x2, x1 + w / 5), max(y2, y1 + h / 5)
            box = [x1, y1, min(x2, w) - x1, min(y2, h) - y1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1 + len(anns) % 2, "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
    doc = {"images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]}
    return box_set("custom/sized", doc, tmp_path / "images", family, "all", None, "default", tmp_path / "a.json")


class HandAnswers:
    """Answers written by hand on Qwen3-VL's grid (integers 0-1000 relative to the image), after checking that
    the family's real processor sees each image at the adapter's input size."""

    def __init__(self, processor, family: str, lo: int, hi: int, think: str | None) -> None:
        self.processor, self.family, self.pixels, self.think = processor, family, (lo, hi), think
        self.seen = []

    def generate(self, queries):
        out = []
        for q in queries:
            with Image.open(q.image) as im:
                grid = self.processor.image_processor(images=[im.convert("RGB")], return_tensors="np")
            _, gh, gw = grid["image_grid_thw"][0].tolist()
            geo = get_adapter(self.family).geometry(q.width, q.height, min_pixels=self.pixels[0],
                                                    max_pixels=self.pixels[1])
            assert (gw * 16, gh * 16) == (geo.input_width, geo.input_height)
            self.seen.append((q.width, q.height, gw * 16, gh * 16))
            items = [{"bbox_2d": [round(b[0] / q.width * 1000), round(b[1] / q.height * 1000),
                                  round(b[2] / q.width * 1000), round(b[3] / q.height * 1000)], "label": lab}
                     for lab, b in q.gt]
            text = "```json\n" + json.dumps(items) + "\n```"
            out.append(text if self.think is None else self.think + text)
        return out


@pytest.mark.parametrize("family", FAMILIES)
def test_perfect_answers_score_100_through_the_real_processor(checkpoints, family, tmp_path):
    lo, hi = 3136, 401408
    processor = build_processor(str(checkpoints[family]), family="qwen3-vl", min_pixels=lo, max_pixels=hi)
    es = _sized_set(tmp_path, "qwen3-vl")
    backend = HandAnswers(processor, "qwen3-vl", lo, hi, None)
    answer([es], lambda: backend, tmp_path / "out", "qwen3-vl", lo, hi, batch_size=2)
    meta = {"model": family, "family": "qwen3-vl", "protocol": "all", "decoding": {}, "min_pixels": lo,
            "max_pixels": hi, "limit": None}
    m = score("custom", [es], tmp_path / "out", meta, "constant", "pycocotools")["sets"]["custom/sized"]
    assert m["mAP"] == 100.0 and m["parse_failures"] == 0 and m["answered"] == len(SIZES)
    sizes = {(w, h) for w, h, *_ in backend.seen}
    assert sizes == set(SIZES) and any(iw % 32 or ih % 32 for iw, ih in sizes)
    assert all(iw % 32 == 0 and ih % 32 == 0 for *_, iw, ih in backend.seen)
    # the same answers read the Qwen2.5-VL way (pixels of the resized input) score far lower
    wrong = get_adapter("qwen2.5-vl")
    text = backend.generate([es.queries[1]])[0]
    geo = wrong.geometry(*SIZES[1], min_pixels=lo, max_pixels=hi)
    assert not np.allclose(wrong.parse(text, geo).boxes, get_adapter("qwen3-vl").parse(text, geo).boxes, atol=5)


def test_thinking_answers_are_scored_after_think(checkpoints, tmp_path):
    lo, hi = 3136, 401408
    processor = build_processor(str(checkpoints["thinking"]), family="qwen3-vl-thinking", min_pixels=lo,
                                max_pixels=hi)
    es = _sized_set(tmp_path, "qwen3-vl-thinking")
    think = "The circle is {\"bbox_2d\": [1, 2, 3, 4]} maybe at the left.\n</think>\n\n"
    answer([es], lambda: HandAnswers(processor, "qwen3-vl-thinking", lo, hi, think), tmp_path / "out",
           "qwen3-vl-thinking", lo, hi, batch_size=5)
    meta = {"model": "t", "family": "qwen3-vl-thinking", "protocol": "all", "decoding": {}, "min_pixels": lo,
            "max_pixels": hi, "limit": None}
    m = score("custom", [es], tmp_path / "out", meta, "constant", "pycocotools")["sets"]["custom/sized"]
    assert m["mAP"] == 100.0 and m["parse_failures"] == 0
    assert m["think_unclosed"] == 0 and m["think_chars_mean"] == len(think.split("</think>")[0].strip())
    records = [json.loads(x) for f in (tmp_path / "out").rglob("*.jsonl") for x in f.read_text().splitlines()]
    assert records and all(r["think_chars"] == m["think_chars_mean"] for r in records)
    # an unclosed block: the format check fails and no box is read, even one written inside the block
    adapter = get_adapter("qwen3-vl-thinking")
    geo = adapter.geometry(640, 480)
    open_block = adapter.parse('I think ```json\n[{"bbox_2d": [1, 2, 300, 400], "label": "circle"}]\n```', geo)
    assert not open_block.format_ok and len(open_block.boxes) == 0 and "</think>" in open_block.reason
    closed = adapter.parse('<think>x</think>```json\n[{"bbox_2d": [1, 2, 300, 400], "label": "circle"}]\n```', geo)
    assert closed.format_ok and closed.model_boxes.tolist() == [[1, 2, 300, 400]]


@settings(max_examples=200, deadline=None)
@given(think=st.text(max_size=40), answer_text=st.text(max_size=40), opened=st.booleans())
def test_split_think_property(think, answer_text, opened):
    """The answer is what follows the last </think>; the think part is what precedes it (an opening <think> in
    the completion dropped); without </think> there is no answer."""
    answer_text = answer_text.replace("</think>", "")
    text = ("<think>" if opened else "") + think + "</think>" + answer_text
    got_think, got_answer = split_think(text)
    assert got_answer == answer_text
    if "</think>" not in think and (opened or not think.lstrip().startswith("<think>")):
        assert got_think == think
    body = think + answer_text
    if "</think>" not in body:
        assert split_think(body) == (None, "")


# ------------------------------------------------------------------ GRPO: real TRL steps per family


@pytest.fixture(scope="module")
def mixes(world_dir, tmp_path_factory):
    """A detection + REC mix built for each coordinate family (the world's images come in several sizes)."""
    tmp = tmp_path_factory.mktemp("qwen3-mix")
    return {fam: small_mix(world_dir, tmp / fam, fam) for fam in ("qwen3-vl", "qwen3-vl-thinking")}


def _hand_terms(text: str, gt: list, width: int, height: int, thinking: bool) -> tuple[float, list]:
    """Format reward and boxes (original pixels) of a completion, read by hand on the 0-1000 grid: a fenced JSON
    list of {bbox_2d: 4 integers in [0, 1000] with x1 < x2, y1 < y2, label: str}, after </think> for Thinking."""
    if thinking:
        if "</think>" not in text:
            return 0.0, []
        text = text.rsplit("</think>", 1)[1]
    s = text.strip()
    if s.startswith("```json"):
        if not s.endswith("```") or len(s) < 10:
            return 0.0, []
        s = s[7:-3]
    try:
        items = json.loads(s)
    except ValueError:
        return 0.0, []
    ok = isinstance(items, list) and all(
        isinstance(it, dict) and isinstance(it.get("label"), str) and isinstance(it.get("bbox_2d"), list)
        and len(it["bbox_2d"]) == 4 and all(type(v) in (int, float) for v in it["bbox_2d"]) for it in items)
    if not ok:
        return 0.0, []
    boxes = [[b[0] / 1000 * width, b[1] / 1000 * height, b[2] / 1000 * width, b[3] / 1000 * height]
             for b in (it["bbox_2d"] for it in items)]
    inside = all(0 <= v <= 1000 for it in items for v in it["bbox_2d"])
    return float(inside), boxes


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("family, coords", [("qwen3-vl", "qwen3-vl"), ("qwen3-vl-moe", "qwen3-vl"),
                                            ("qwen3.5", "qwen3-vl"), ("qwen3.5-moe", "qwen3-vl"),
                                            ("thinking", "qwen3-vl-thinking")])
def test_grpo_two_prompts_per_process_rewards_by_hand(checkpoints, mixes, family, coords, tmp_path, monkeypatch):
    """Real TRL GRPO steps (8 completions = 2 prompts x G 4 per micro-step) on images of several sizes: every
    row's format reward is the one read by hand on the 0-1000 grid, rows without a box get no recall or
    precision; a perfect answer written by hand for each row's image gets format 1, recall 1
    and the precision of Eq. 6 computed by hand from the same reward functions and columns TRL used."""
    import visionr1.rewards as rewards

    calls = []
    real = rewards.reward_funcs

    def recording(config=None):
        funcs = real(config)

        def wrap(fn):
            def inner(completions, **columns):
                values = fn(completions, **columns)
                calls.append((fn.__name__, completions, columns, values, fn))
                return values
            inner.__name__ = fn.__name__
            return inner
        return [wrap(f) for f in funcs]

    monkeypatch.setattr(rewards, "reward_funcs", recording)
    out = tmp_path / "grpo"
    assert run_cli("train", "grpo", "--model", checkpoints[family], "--data", mixes[coords], "--out", out,
                   "--family", coords, "--per-device-train-batch-size", "8", "--num-generations", "4",
                   "--max-steps", "2", "--max-completion-length", "16", "--bf16", "false",
                   "--gradient-checkpointing", "false", "--save-strategy", "no") == 0
    thinking = coords == "qwen3-vl-thinking"
    by_name = {}
    for name, completions, columns, values, fn in calls:
        by_name.setdefault(name, []).append((completions, columns, values, fn))
    assert set(by_name) == {"format", "recall", "precision"} and len(by_name["format"]) >= 2
    sizes, rows = set(), 0
    for (completions, columns, fmt, fn_f), (_, _, rec, fn_r), (_, _, prec, fn_p) in zip(
            by_name["format"], by_name["recall"], by_name["precision"], strict=True):
        assert len(completions) == 8 and len(set(map(json.dumps, columns["gt"]))) <= 2  # 2 prompts x 4
        for k, c in enumerate(completions):
            text = c[-1]["content"] if isinstance(c, list) else c
            text = text if isinstance(text, str) else "".join(p.get("text", "") for p in text)
            w, h = columns["width"][k], columns["height"][k]
            sizes.add((w, h))
            hand_format, boxes = _hand_terms(text, columns["gt"][k], w, h, thinking)
            assert fmt[k] == hand_format, text
            if not boxes:
                assert rec[k] == prec[k] == 0.0 or not columns["gt"][k], text
            rows += 1
        # a perfect answer for every row, written by hand on the grid, through the same reward functions
        perfect, hand_prec = [], []
        for k in range(len(completions)):
            w, h = columns["width"][k], columns["height"][k]
            items = [{"bbox_2d": [round(g["bbox"][0] / w * 1000), round(g["bbox"][1] / h * 1000),
                                  round(g["bbox"][2] / w * 1000), round(g["bbox"][3] / h * 1000)],
                      "label": g["label"]} for g in columns["gt"][k]]
            ious = [_iou(g["bbox"], [it["bbox_2d"][0] * w / 1000, it["bbox_2d"][1] * h / 1000,
                                     it["bbox_2d"][2] * w / 1000, it["bbox_2d"][3] * h / 1000])
                    for g, it in zip(columns["gt"][k], items, strict=True)]
            # Eq. 6 by hand in phase 1 (xi0 = xi1 = 0.5, xi2 = 0.75; the family's STEP 1.0 never switches)
            hand_prec.append(sum(1.0 if v >= 0.75 else v if v >= 0.5 else 0.0 for v in ious) / len(ious))
            body = "```json\n" + json.dumps(items) + "\n```"
            perfect.append([{"role": "assistant", "content": ("reason</think>\n\n" if thinking else "") + body}])
        cols = {k: v for k, v in columns.items() if k != "trainer_state"}
        assert fn_f(perfect, **cols) == [1.0] * 8 and fn_r(perfect, **cols) == [1.0] * 8
        assert fn_p(perfect, **cols) == pytest.approx(hand_prec)
    assert rows >= 16 and len(sizes) > 1
    # MoE: TRL adds the router's load-balancing loss with the checkpoint's router_aux_loss_coef (0.001)
    logged = {k for x in (out / "metrics.jsonl").read_text().splitlines() for k in json.loads(x)}
    assert any("aux_loss" in k for k in logged) == family.endswith("-moe"), sorted(logged)


# ------------------------------------------------------------------ reward score / explain of Thinking answers

GT = [{"label": "cat", "bbox": [0, 0, 50, 40]}]
ANSWER = '```json\n[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]\n```'


def test_reward_scores_the_answer_after_think_and_explains_both_parts(tmp_path, capsys):
    cases = tmp_path / "in.jsonl"
    rows = [{"completion": "the cat is at {\"bbox_2d\": [900, 900, 999, 999]}\n</think>\n\n" + ANSWER},
            {"completion": "I keep thinking " + ANSWER},  # never closed: no answer, format 0
            {"completion": "<think>\n</think>\n\n" + ANSWER}]
    cases.write_text("".join(json.dumps({**r, "gt": GT, "width": 100, "height": 80}) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert run_cli("reward", "score", cases, "--family", "qwen3-vl-thinking", "--output", out) == 0
    got = [json.loads(x)["rewards"] for x in out.read_text().splitlines()]
    assert got[0] == got[2] == {"format": 1.0, "recall": 1.0, "precision": 1.0, "total": 3.0}
    assert got[1] == {"format": 0.0, "recall": 0.0, "precision": 0.0, "total": 0.0}
    capsys.readouterr()
    # the same answer read without the think block: the Instruct family fails its template
    assert run_cli("reward", "score", cases, "--family", "qwen3-vl", "--output", tmp_path / "instruct.jsonl") == 0
    assert json.loads((tmp_path / "instruct.jsonl").read_text().splitlines()[0])["rewards"]["format"] == 0.0
    capsys.readouterr()
    assert run_cli("reward", "explain", cases, "--family", "qwen3-vl-thinking", "--line", 1) == 0
    text = capsys.readouterr().out
    assert "think" in text and "characters: 'the cat is at" in text and "answer (scored)" in text
    assert run_cli("reward", "explain", cases, "--family", "qwen3-vl-thinking", "--line", 2) == 0
    assert "not closed by </think>" in capsys.readouterr().out


# ------------------------------------------------------------------ SFT, resume and evaluation with the real models


@pytest.mark.parametrize("family, coords", [("qwen3-vl-moe", "qwen3-vl"), ("qwen3.5", "qwen3-vl"),
                                            ("thinking", "qwen3-vl-thinking")])
def test_sft_then_eval_with_the_trained_model(checkpoints, mixes, world_dir, family, coords, tmp_path):
    """SFT steps on targets in the family's space (Thinking: after an empty think block), the saved model
    reloads as its class, and ``eval custom`` answers with it through the family's processor."""
    from visionr1.train.data import load_dataset_dir, sft_dataset

    row = sft_dataset(load_dataset_dir(mixes[coords], coords), coords, 3136, 401408)[0]
    target = row["completion"][0]["content"]
    adapter = get_adapter(coords)
    parsed = adapter.parse(target, adapter.geometry(row["width"], row["height"]))
    assert parsed.format_ok and len(parsed.boxes) == len(row["gt"])
    assert target.startswith("<think>\n\n</think>\n\n```json") == (coords == "qwen3-vl-thinking")
    out = tmp_path / "sft"
    assert run_cli("train", "sft", "--model", checkpoints[family], "--data", mixes[coords], "--out", out,
                   "--family", coords, "--max-steps", "2", "--per-device-train-batch-size", "2",
                   "--gradient-accumulation-steps", "1", "--bf16", "false", "--save-steps", "2") == 0
    losses = [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert len(losses) == 2 and all(v > 0 for v in losses)
    assert type(AutoModelForImageTextToText.from_pretrained(out)).__name__ == MODEL_CLASSES.get(family, MODEL_CLASSES[
        "qwen3-vl"])
    # MoE: TRL's SFT turns router logits on while training; the saved model has them off again (generate() with
    # them on fails in transformers 5.25), and the checkpoint saved during training, which has them on, is
    # evaluated below all the same
    text = json.loads((out / "config.json").read_text())["text_config"]
    assert text.get("output_router_logits", False) is False
    model = out / "checkpoint-2" if family.endswith("-moe") else out
    if family.endswith("-moe"):
        assert json.loads((model / "config.json").read_text())["text_config"]["output_router_logits"] is True
    ev = tmp_path / "eval"
    assert run_cli("eval", "custom", "--model", model, "--family", coords, "--data-root", world_dir / "v3det",
                   "--annotations", world_dir / "v3det/annotations/v3det_2023_v1_val.json", "--out", ev,
                   "--limit", "3", "--max-new-tokens", "8") == 0
    report = json.loads((ev / "report.json").read_text())
    m = next(iter(report["sets"].values()))
    assert m["answered"] == 3
    if coords == "qwen3-vl-thinking":
        assert m["think_unclosed"] + (m["think_chars_mean"] is not None) >= 1


def test_grpo_resume_with_a_qwen3_checkpoint(checkpoints, mixes, tmp_path):
    out = tmp_path / "grpo"
    common = ["train", "grpo", "--model", checkpoints["qwen3-vl"], "--data", mixes["qwen3-vl"], "--out", out,
              "--family", "qwen3-vl", "--config", "configs/grpo/tiny-cpu.yaml", "--max-completion-length", "8",
              "--save-steps", "1"]
    assert run_cli(*common, "--max-steps", "1") == 0
    assert run_cli(*common, "--max-steps", "2", "--resume", "latest") == 0
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines() if '"reward"' in x]
    assert steps == [1, 2]
    assert json.loads((out / "run_config.json").read_text())["resume"].endswith("checkpoint-1")


@settings(max_examples=150, deadline=None)
@given(think=st.text(max_size=60).filter(lambda t: "</think>" not in t), w=st.integers(1, 3000),
       h=st.integers(1, 3000), n=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_thinking_parser_reads_only_the_answer(think, w, h, n, seed):
    """After </think>: exactly what the Instruct family reads from the answer alone; without </think>: a format
    failure with no box, whatever the text holds (boxes included)."""
    if max(w, h) / min(w, h) > 200:
        return
    rng = np.random.default_rng(seed)
    gt = []
    for _ in range(n):
        x1, x2 = sorted(rng.uniform(0, w, 2))
        y1, y2 = sorted(rng.uniform(0, h, 2))
        gt.append({"label": "cat", "bbox": [x1, y1, x1 + max(x2 - x1, 1.0), y1 + max(y2 - y1, 1.0)]})
    instruct, thinking = get_adapter("qwen3-vl"), get_adapter("qwen3-vl-thinking")
    geo = instruct.geometry(w, h)
    answer_text = instruct.serialize(gt, geo)
    a = thinking.parse(think + "</think>\n\n" + answer_text, geo)
    b = instruct.parse(answer_text, geo)
    assert (a.format_ok, a.model_boxes.tolist(), a.labels) == (b.format_ok, b.model_boxes.tolist(), b.labels)
    assert thinking.parse(thinking.serialize(gt, geo), geo).model_boxes.tolist() == b.model_boxes.tolist()
    unclosed = thinking.parse(think + answer_text, geo)
    assert not unclosed.format_ok and len(unclosed.boxes) == 0


def test_review_of_a_thinking_run(fo, world_dir, tmp_path):
    """``review eval`` reads the family from the evaluation's report: answers after </think>, on the 0-1000 grid."""
    run = tmp_path / "rec"
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--sets", "refcoco:val", "--limit", "4",
                   "--out", run, "--backend", "oracle", "--family", "qwen3-vl-thinking") == 0
    report = json.loads((run / "report.json").read_text())
    assert report["family"] == "qwen3-vl-thinking" and report["headline"] == 100.0
    assert run_cli("review", "eval", run, "--name", "vr1-qwen3-thinking") == 0
    ds = fo.load_dataset("vr1-qwen3-thinking")
    assert len(ds) == 4 and ds.count_sample_tags() == {}
    for s in ds:
        assert s.rec_format == s.rec_recall == s.rec_precision == 1.0 and s.rec_eval_tp == 1


def test_vllm_folder_gets_the_runs_pixel_limits(checkpoints, tmp_path):
    """vLLM reads the processor from the folder: the patched folder of a Qwen3 checkpoint (limits in ``size``)
    gives the run's factor-32 geometry to a plain from_pretrained."""
    from visionr1.train.model import with_pixel_limits

    path = with_pixel_limits(str(checkpoints["qwen3-vl-moe"]), "qwen3-vl", 4096, 409600, tmp_path / "vllm")
    processor = AutoProcessor.from_pretrained(path)
    assert (processor.image_processor.size["shortest_edge"], processor.image_processor.size["longest_edge"]) == (
        4096, 409600)
    geo = get_adapter("qwen3-vl").geometry(1280, 720, min_pixels=4096, max_pixels=409600)
    assert input_size(processor, 1280, 720) == (geo.input_width, geo.input_height) != (1280, 720)
    assert json.loads((checkpoints["qwen3-vl-moe"] / "preprocessor_config.json").read_text())["size"][
        "shortest_edge"] == 65536  # the checkpoint itself is left as it was
