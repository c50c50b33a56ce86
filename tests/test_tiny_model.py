"""The synthetic checkpoint loads and generates like a real Qwen2.5-VL checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import load_hub_checkpoint, run_cli
from PIL import Image

from visionr1.io import sha256_file, tree_digest
from visionr1.synth.tiny_model import HUB_PREPROCESSOR, QWEN_SPECIAL_TOKENS, read_card

# the files of the hub's Qwen/Qwen2.5-VL-7B-Instruct (its weights come in 5 shards, ours in 3)
HUB_FILES = {".gitattributes", "README.md", "chat_template.json", "config.json", "generation_config.json",
             "merges.txt", "model.safetensors.index.json", "preprocessor_config.json", "tokenizer.json",
             "tokenizer_config.json", "vocab.json"}


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    """Processor and model, with every transformers warning emitted while loading."""
    return load_hub_checkpoint(tiny_model_dir)


def test_hub_layout(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    shards = {n for n in names if n.startswith("model-")}
    assert names - shards == HUB_FILES  # nothing the real folder lacks (no processor_config.json ...)
    index = json.loads((tiny_model_dir / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == shards and len(shards) > 1
    # hub names of the weights (transformers renames them to model.visual.*, model.language_model.* on load)
    assert any(k.startswith("visual.blocks.") for k in index["weight_map"])
    assert any(k.startswith("model.layers.") for k in index["weight_map"])
    assert json.loads((tiny_model_dir / "preprocessor_config.json").read_text()) == HUB_PREPROCESSOR
    assert HUB_PREPROCESSOR["min_pixels"] == 3136 and HUB_PREPROCESSOR["max_pixels"] == 12845056
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert "text_config" not in config and config["rope_scaling"]["type"] == "mrope"  # the flat 4.41 layout
    assert config["torch_dtype"] == "bfloat16" and config["vision_config"]["tokens_per_second"] == 2
    generation = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert {k: generation[k] for k in ("do_sample", "repetition_penalty", "temperature", "top_p", "top_k")} == {
        "do_sample": True, "repetition_penalty": 1.05, "temperature": 0.1, "top_p": 0.001, "top_k": 1}
    tokenizer = json.loads((tiny_model_dir / "tokenizer_config.json").read_text())
    assert "padding_side" not in tokenizer and tokenizer["model_max_length"] == 131072
    assert (tiny_model_dir / "merges.txt").read_text().startswith("#version: 0.2\n")


def test_loads_like_the_hub_checkpoint(loaded):
    """What a user of the real checkpoint gets from a plain from_pretrained: right padding, the hub's pixel
    limits whatever ``size=`` says, bf16 weights."""
    processor, model, _ = loaded
    assert processor.tokenizer.padding_side == "right"
    assert processor.image_processor.size["longest_edge"] == 12845056
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.generation_config.repetition_penalty == 1.05 and model.generation_config.top_k == 1


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
    assert sha256_file(a / "model-00001-of-00003.safetensors") != sha256_file(b / "model-00001-of-00003.safetensors")
    info = read_card(a)
    assert info["seed"] == 0 and info["parameters"] < 2_000_000 and info["size"] == "tiny"
    assert read_card(tiny_model_dir.parent) == {}
    assert "<!-- written by visionr1 synth tiny-model -->" in (a / "README.md").read_text()
    # --force replaces an earlier synthetic model, never a folder that is not one
    assert run_cli("synth", "tiny-model", "--out", a, "--seed", 2, "--force") == 0 and read_card(a)["seed"] == 2
    (b / "README.md").write_text("# a real model card\n")
    assert run_cli("synth", "tiny-model", "--out", b, "--force") == 2
