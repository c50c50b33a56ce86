"""The synthetic checkpoint loads and generates like a real Qwen2.5-VL checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers import logging as hf_logging

from visionr1.io import sha256_file, tree_digest
from visionr1.synth.tiny_model import QWEN_SPECIAL_TOKENS


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    """Processor and model, with every transformers warning emitted while loading."""
    records = []
    handler = _Collect(records)
    hf_logging.add_handler(handler)
    try:
        processor = AutoProcessor.from_pretrained(tiny_model_dir)
        model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    finally:
        hf_logging.remove_handler(handler)
    return processor, model, records


class _Collect(__import__("logging").Handler):
    def __init__(self, sink):
        super().__init__(level=__import__("logging").WARNING)
        self.sink = sink

    def emit(self, record):
        self.sink.append(record.getMessage())


def test_standard_layout(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
            "generation_config.json"} <= names
    assert {"processor_config.json", "preprocessor_config.json"} & names


def test_loads_as_qwen2_5_vl_without_warnings(loaded):
    processor, model, warnings = loaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert not warnings, warnings
    n = sum(p.numel() for p in model.parameters())
    assert n < 2_000_000


def test_token_ids_consistent(loaded):
    processor, model, _ = loaded
    tok, cfg = processor.tokenizer, model.config
    ids = tok.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # Qwen order, consecutive, after the BPE vocabulary
    assert cfg.text_config.vocab_size == len(tok)
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>") == processor.image_token_id
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tok.convert_tokens_to_ids("<|vision_end|>")
    gen = model.generation_config
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert gen.eos_token_id == [tok.eos_token_id, tok.pad_token_id]
    assert gen.pad_token_id == gen.bos_token_id == tok.pad_token_id
    for tid in (gen.pad_token_id, gen.bos_token_id, *gen.eos_token_id):
        assert 0 <= tid < cfg.text_config.vocab_size
    text = "Locate every red circle in the image. 1234 {\"bbox_2d\": [1, 2, 3, 4]}"
    assert tok.decode(tok(text).input_ids) == text  # byte-level BPE round trip


def test_generates_from_image_with_chat_template(loaded, world_dir):
    processor, model, _ = loaded
    image_path = sorted((world_dir / "coco" / "val2017").glob("*.jpg"))[0]
    image = Image.open(image_path).convert("RGB")
    messages = [{"role": "user", "content": [
        {"type": "image"},
        {"type": "text", "text": "Locate every circle in the image and output the coordinates in JSON format."}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                             "<|vision_start|><|image_pad|><|vision_end|>Locate every circle")
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = processor(text=[prompt], images=[image], return_tensors="pt")
    t, h, w = inputs["image_grid_thw"][0].tolist()
    assert t == 1 and h * 14 % 28 == 0 and w * 14 % 28 == 0
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_image_tokens == h * w // 4
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 12
    text = processor.batch_decode(new[None], skip_special_tokens=True)[0]
    assert isinstance(text, str)


def test_same_seed_same_files(tmp_path, tiny_model_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("synth", "tiny-model", "--out", a, "--seed", 0) == 0
    assert run_cli("synth", "tiny-model", "--out", b, "--seed", 1) == 0
    assert tree_digest(a) == tree_digest(tiny_model_dir)  # same seed as the session fixture
    assert sha256_file(a / "model.safetensors") != sha256_file(b / "model.safetensors")
    info = json.loads((a / "visionr1_synth.json").read_text())
    assert info["seed"] == 0 and info["parameters"] < 2_000_000
