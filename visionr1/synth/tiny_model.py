"""A tiny, randomly initialised Qwen2.5-VL checkpoint in the standard Hugging Face layout.

It stands in for ``Qwen/Qwen2.5-VL-7B-Instruct`` in tests and the demo: same architecture class, processor,
chat template and special tokens, with a byte-level BPE tokenizer trained offline on text of the synthetic
world and the instruction templates. Nothing else in visionr1 knows it is tiny.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from visionr1 import __version__
from visionr1.data.templates import TASKS, load_templates
from visionr1.errors import VisionR1Error
from visionr1.io import prepare_output_dir, write_json
from visionr1.resources import resource_dir

MARKER = "visionr1_synth.json"
FAMILIES = ("qwen2.5-vl",)

# Qwen2/2.5 added tokens, in their id order (151643...151664 in the real vocabulary).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)

# The Qwen2-VL / Qwen2.5-VL chat template.
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class ModelSize:
    """Architecture sizes of a synthetic checkpoint (BPE vocabulary before the special tokens)."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int
    vision_intermediate: int


SIZES = {
    # < 2M parameters: fast enough for CPU tests of every code path
    "tiny": ModelSize(2048, 64, 2, 4, 2, 128, 32, 2, 2, 64),
    # ~10M parameters: big enough to learn the synthetic world on a CPU (learning benchmark)
    "small": ModelSize(4096, 256, 4, 8, 4, 768, 128, 4, 4, 256),
}


def tokenizer_corpus(seed: int) -> list[str]:
    """Text the tokenizer is trained on: instructions of every family, referring expressions and region
    phrases of the synthetic world, and answers in the families' output formats."""
    from visionr1.synth.world import build_world

    rng = np.random.default_rng([seed, 7])
    world = build_world(seed, images=60)
    names = sorted({o.label for sc in world.coco.values() for s in sc for o in s.objects}
                   | {c for cats in world.odinw_categories.values() for c in cats} | set(world.v3det_categories))
    exprs = [s for refs in world.refs.values() for r in refs for s in r.sentences]
    phrases = [r.phrase for regions in world.vg_regions for r in regions]
    lines = ["You are a helpful assistant.", "None", *exprs, *phrases]
    families = sorted(p.stem for p in resource_dir("templates").glob("*.yaml"))
    for _ in range(400):
        fam = load_templates(families[int(rng.integers(len(families)))])
        task = TASKS[int(rng.integers(len(TASKS)))]
        k = int(rng.integers(1, 9)) if task == "detection" else 1
        pick = [names[int(j)] for j in rng.choice(len(names), size=k, replace=False)]
        lines.append(fam[task][0].render(pick))
        boxes = np.sort(rng.integers(0, 1000, size=(int(rng.integers(1, 6)), 4)).reshape(-1, 2, 2), axis=1)
        items = [{"bbox_2d": [int(b[0, 0]), int(b[0, 1]), int(b[1, 0]), int(b[1, 1])], "label": pick[0]}
                 for b in boxes]
        lines.append("```json\n[\n" + ",\n".join("\t" + json.dumps(it) for it in items) + "\n]\n```")
        lines.append("&".join(f"{pick[0]}-[{b[0, 0] / 1000:.3f},{b[0, 1] / 1000:.3f},{b[1, 0] / 1000:.3f},"
                              f"{b[1, 1] / 1000:.3f}]" for b in boxes))
    return lines


def build_tokenizer(seed: int, vocab: int):
    """A Qwen2 tokenizer (byte-level BPE, Qwen pre-tokenizer) trained on ``tokenizer_corpus``; the Qwen
    special tokens follow the BPE vocabulary in their real order."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(tokenizer_corpus(seed), trainer)
    model = json.loads(bpe.to_str())["model"]
    table = dict(model["vocab"])
    n = len(table)
    table.update({tok: n + i for i, tok in enumerate(QWEN_SPECIAL_TOKENS)})
    return Qwen2Tokenizer(
        vocab=table,
        merges=[tuple(m) for m in model["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
        errors="replace",
        model_max_length=32768,
        split_special_tokens=False,
    )


def _mrope_section(head_dim: int) -> list[int]:
    half = head_dim // 2
    hw = 3 * half // 8
    return [half - 2 * hw, hw, hw]


def build_tiny_model(out: str | Path, *, family: str = "qwen2.5-vl", size: str = "tiny", seed: int = 0,
                     force: bool = False) -> Path:
    """Write a randomly initialised checkpoint of ``family`` to ``out``; returns the directory."""
    if family not in FAMILIES:
        raise VisionR1Error(f"unknown family '{family}' for a synthetic model (supported: {', '.join(FAMILIES)})")
    if size not in SIZES:
        raise VisionR1Error(f"unknown size '{size}' (choose from {', '.join(SIZES)})")
    out = prepare_output_dir(out, force=force, marker=MARKER)

    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    dims = SIZES[size]
    tok = build_tokenizer(seed, dims.vocab)
    ids = tok.convert_tokens_to_ids
    pad, eos = ids("<|endoftext|>"), ids("<|im_end|>")
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tok), "hidden_size": dims.hidden, "intermediate_size": dims.intermediate,
            "num_hidden_layers": dims.layers, "num_attention_heads": dims.heads, "num_key_value_heads": dims.kv_heads,
            "max_position_embeddings": 32768, "max_window_layers": dims.layers, "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                "mrope_section": _mrope_section(dims.hidden // dims.heads)},
            "bos_token_id": pad, "eos_token_id": eos, "pad_token_id": pad, "tie_word_embeddings": False,
        },
        vision_config={
            "depth": dims.vision_depth, "hidden_size": dims.vision_hidden,
            "intermediate_size": dims.vision_intermediate, "num_heads": dims.vision_heads,
            "out_hidden_size": dims.hidden, "fullatt_block_indexes": [dims.vision_depth - 1],
            "window_size": 112, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        },
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    # generation defaults of the released Qwen2.5-VL-7B-Instruct checkpoint
    model.generation_config = GenerationConfig(
        bos_token_id=pad, pad_token_id=pad, eos_token_id=[eos, pad], do_sample=True, temperature=0.1, top_p=0.001,
        top_k=1, repetition_penalty=1.05)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056),
        tokenizer=tok, video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN_VL_CHAT_TEMPLATE)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    write_json(out / MARKER, {"generator": "visionr1 synth tiny-model", "version": __version__, "family": family,
                              "size": size, "seed": seed, "dims": asdict(dims),
                              "parameters": sum(p.numel() for p in model.parameters())}, indent=2)
    return out
