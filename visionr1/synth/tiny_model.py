"""Tiny, randomly initialised checkpoints with the files of the hub's Qwen checkpoints:
``Qwen/Qwen2.5-VL-7B-Instruct`` (family ``qwen2.5-vl``), ``Qwen/Qwen3-VL-8B-Instruct`` / ``-Thinking``
(``qwen3-vl``), ``Qwen/Qwen3-VL-30B-A3B-Instruct`` (``qwen3-vl-moe``) and ``Qwen/Qwen3.5-*`` (``qwen3.5``,
``qwen3.5-moe``); the Qwen3 files come from ``visionr1.synth.qwen3_files``.

It stands in for the real checkpoint in tests, benchmarks and the demo: the same file set (flat ``config.json``,
sharded bf16 safetensors with an index, ``preprocessor_config.json`` whose min/max_pixels override ``size=``,
``chat_template.json``, ``tokenizer.json`` + ``vocab.json`` + ``merges.txt``, a tokenizer config that pads on the
right, the released ``generation_config.json``), keys and values; only sizes, token ids and weights differ. The
byte-level BPE tokenizer is trained offline on text of the synthetic world and the instruction templates.
Nothing else in visionr1 knows it is tiny. docs/synth.md lists which real file each one mirrors.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from visionr1 import __version__
from visionr1.data.templates import TASKS, load_templates
from visionr1.errors import VisionR1Error
from visionr1.io import prepare_output_dir, write_bytes, write_json

CARD = "README.md"
# The card's ownership mark: ``<!-- written by visionr1 synth <command> -->``; this prefix recognizes a card of any
# ``visionr1 synth`` command (tiny-model, pretrain) for ``read_card`` and ``--force``.
CARD_TAG = "<!-- written by visionr1 synth "
# synthetic families: the hub checkpoint each one copies and the coordinate family (visionr1.formats) it answers in
HUB_REPOS = {"qwen2.5-vl": "Qwen/Qwen2.5-VL-7B-Instruct", "qwen3-vl": "Qwen/Qwen3-VL-8B-Instruct",
             "qwen3-vl-moe": "Qwen/Qwen3-VL-30B-A3B-Instruct", "qwen3.5": "Qwen/Qwen3.5-9B",
             "qwen3.5-moe": "Qwen/Qwen3.5-35B-A3B"}
FAMILIES = tuple(HUB_REPOS)
QWEN3_FAMILIES = FAMILIES[1:]

# Qwen2/2.5 added tokens, in their id order (151643...151664 in the real vocabulary).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)
# Qwen3 adds four tokens after them (151665...151668), not special: the tokenizer keeps them in decoded text
QWEN3_SPECIAL_TOKENS = (*QWEN_SPECIAL_TOKENS, "<tool_response>", "</tool_response>", "<think>", "</think>")

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
    """Architecture sizes of a synthetic checkpoint. ``vocab`` is the BPE trainer's target before the special
    tokens, an upper bound: the small corpus yields fewer merges (``config.json``'s ``vocab_size`` is the real
    size, 894 for ``small``)."""

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
    # ~4.8M parameters: big enough to learn the synthetic world on a CPU (models/shapes-base, learning benchmark)
    "small": ModelSize(4096, 256, 4, 8, 4, 768, 128, 4, 4, 256),
}


# template families whose instructions the tokenizer learns (fixed: a new template file must not change the
# tokenizer, and so the shipped checkpoints, of an existing family)
CORPUS_FAMILIES = {"qwen2.5-vl": ("griffon-g", "qwen2.5-vl")}
CORPUS_QWEN3 = ("griffon-g", "qwen2.5-vl", "qwen3-vl", "qwen3-vl-thinking")


def tokenizer_corpus(seed: int, families: tuple[str, ...] = CORPUS_FAMILIES["qwen2.5-vl"]) -> list[str]:
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
    families = sorted(families)
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


def build_tokenizer(seed: int, vocab: int, specials: tuple[str, ...] = QWEN_SPECIAL_TOKENS,
                    corpus: tuple[str, ...] = CORPUS_FAMILIES["qwen2.5-vl"]):
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
    bpe.train_from_iterator(tokenizer_corpus(seed, corpus), trainer)
    model = json.loads(bpe.to_str())["model"]
    table = dict(model["vocab"])
    n = len(table)
    table.update({tok: n + i for i, tok in enumerate(specials)})
    tok = Qwen2Tokenizer(
        vocab=table,
        merges=[tuple(m) for m in model["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(specials[1:len(QWEN_SPECIAL_TOKENS)]),
        errors="replace",
        model_max_length=32768,
        split_special_tokens=False,
    )
    if len(specials) > len(QWEN_SPECIAL_TOKENS):  # Qwen3's tool-response and think tokens: added, not special
        from tokenizers import AddedToken

        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in specials[len(QWEN_SPECIAL_TOKENS):]])
    return tok


def _mrope_section(head_dim: int) -> list[int]:
    half = head_dim // 2
    hw = 3 * half // 8
    return [half - 2 * hw, hw, hw]


# ---- the files of the hub's Qwen/Qwen2.5-VL-7B-Instruct, with only sizes, token ids and weights changed

def hub_config(dims: ModelSize, vocab_size: int, ids) -> dict:
    """``config.json`` in the hub checkpoint's flat (transformers 4.41) layout: text options at the top level,
    ``rope_scaling`` of type mrope, bf16 weights."""
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
        "bos_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
        "vision_start_token_id": ids("<|vision_start|>"), "vision_end_token_id": ids("<|vision_end|>"),
        "vision_token_id": ids("<|vision_pad|>"), "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"), "hidden_act": "silu", "hidden_size": dims.hidden,
        "initializer_range": 0.02, "intermediate_size": dims.intermediate, "max_position_embeddings": 128000,
        "max_window_layers": dims.layers, "model_type": "qwen2_5_vl", "num_attention_heads": dims.heads,
        "num_hidden_layers": dims.layers, "num_key_value_heads": dims.kv_heads, "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.41.2", "use_cache": True, "use_sliding_window": False,
        "vision_config": {
            "depth": dims.vision_depth, "hidden_act": "silu", "hidden_size": dims.vision_hidden,
            "intermediate_size": dims.vision_intermediate, "num_heads": dims.vision_heads, "in_chans": 3,
            "out_hidden_size": dims.hidden, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
            "window_size": 112, "fullatt_block_indexes": [dims.vision_depth - 1], "tokens_per_second": 2,
            "temporal_patch_size": 2},
        "rope_scaling": {"type": "mrope", "mrope_section": _mrope_section(dims.hidden // dims.heads)},
        "vocab_size": vocab_size,
    }


def hub_generation_config(ids) -> dict:
    """``generation_config.json``: near-greedy sampling with a repetition penalty, as released."""
    pad, eos = ids("<|endoftext|>"), ids("<|im_end|>")
    return {"bos_token_id": pad, "pad_token_id": pad, "do_sample": True, "eos_token_id": [eos, pad],
            "repetition_penalty": 1.05, "temperature": 0.1, "top_p": 0.001, "top_k": 1,
            "transformers_version": "4.49.0"}


# ``preprocessor_config.json``: min/max_pixels at the top level override any ``size=`` given to transformers
HUB_PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
}


def hub_tokenizer_config(ids) -> dict:
    """``tokenizer_config.json``: no padding side (the tokenizer pads on the right), no BOS, 131072 tokens."""
    return {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(ids(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                               "single_word": False, "special": i < 14}
                                 for i, t in enumerate(QWEN_SPECIAL_TOKENS)},
        "additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:14]), "bos_token": None,
        "chat_template": QWEN_VL_CHAT_TEMPLATE, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "errors": "replace", "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }


def save_weights(model, out: Path) -> None:
    """Write ``model``'s weights to ``out`` as the hub ships them: bf16, hub parameter names (transformers
    reverts its renaming on save), sharded with an index; earlier shards in ``out`` are replaced."""
    import tempfile

    import torch

    model = model.to(torch.bfloat16)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        model.save_pretrained(tmp, max_shard_size=size // 2 + 1)
        for old in Path(out).glob("model*.safetensors*"):
            old.unlink()
        for f in sorted(Path(tmp).glob("model*.safetensors*")):
            f.replace(Path(out) / f.name)


def _weights(config: dict, seed: int, tmp: Path, out: Path) -> int:
    """Random weights (``save_weights``); returns the number of parameters."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    (tmp / "config.json").write_text(json.dumps(config))
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(tmp), dtype=torch.bfloat16)
    save_weights(model, out)
    return sum(p.numel() for p in model.parameters())


def build_tiny_model(out: str | Path, *, family: str = "qwen2.5-vl", size: str = "tiny", seed: int = 0,
                     force: bool = False, thinking: bool = False) -> Path:
    """Write a randomly initialised checkpoint of ``family`` to ``out`` with the hub checkpoint's files
    (``thinking``: the Thinking variant's chat template and sampling, Qwen3 families); returns the directory."""
    import tempfile

    if family not in FAMILIES:
        raise VisionR1Error(f"unknown family '{family}' for a synthetic model (supported: {', '.join(FAMILIES)})")
    if size not in SIZES:
        raise VisionR1Error(f"unknown size '{size}' (choose from {', '.join(SIZES)})")
    if thinking and family not in QWEN3_FAMILIES:
        raise VisionR1Error(f"option --thinking: family '{family}' has no Thinking variant (choose from "
                            f"{', '.join(QWEN3_FAMILIES)})")
    out = prepare_output_dir(out, force=force, marker=CARD, marker_text=CARD_TAG)
    dims = SIZES[size]
    qwen3 = family in QWEN3_FAMILIES
    specials = QWEN3_SPECIAL_TOKENS if qwen3 else QWEN_SPECIAL_TOKENS
    tok = build_tokenizer(seed, dims.vocab, specials, CORPUS_QWEN3 if qwen3 else CORPUS_FAMILIES[family])
    ids = tok.convert_tokens_to_ids
    if qwen3:
        from visionr1.synth import qwen3_files as q3

        config = q3.hub_config(family, dims, len(tok), ids)
        template = q3.chat_template(thinking, family)
        files = {"generation_config.json": q3.hub_generation_config(ids, thinking),
                 "preprocessor_config.json": q3.hub_preprocessor(family),
                 "video_preprocessor_config.json": q3.hub_video_preprocessor(family),
                 "tokenizer_config.json": q3.hub_tokenizer_config(ids, specials, len(QWEN_SPECIAL_TOKENS))}
    else:
        config = hub_config(dims, len(tok), ids)
        template = QWEN_VL_CHAT_TEMPLATE
        files = {"generation_config.json": hub_generation_config(ids), "preprocessor_config.json": HUB_PREPROCESSOR,
                 "tokenizer_config.json": hub_tokenizer_config(ids)}
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        tmp = Path(tmp)
        parameters = _weights(config, seed, tmp, out)
        tok.save_pretrained(tmp / "tokenizer")
        (tmp / "tokenizer" / "tokenizer.json").replace(out / "tokenizer.json")
    bpe = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    write_json(out / "config.json", config, indent=2)
    for name, content in files.items():
        write_json(out / name, content, indent=2)
    write_json(out / "chat_template.json", {"chat_template": template}, indent=2)
    write_json(out / "vocab.json", bpe["vocab"])
    merges = [" ".join(m) if isinstance(m, list) else m for m in bpe["merges"]]
    write_bytes(out / "merges.txt", ("#version: 0.2\n" + "\n".join(merges) + "\n").encode("utf-8"))
    write_bytes(out / ".gitattributes", b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
                                        b"tokenizer.json filter=lfs diff=lfs merge=lfs -text\n")
    info = {"generator": "visionr1 synth tiny-model", "version": __version__, "family": family, "size": size,
            "seed": seed, "parameters": parameters, "dims": asdict(dims)}
    if thinking:
        info["thinking"] = True
    write_bytes(out / CARD, card(info).encode("utf-8"))
    return out


def card(info: dict, title: str | None = None, body: str | None = None) -> str:
    """The model card (``README.md``, as on the hub): YAML front matter with how the checkpoint was made
    (``visionr1_synth``, which ``read_card`` returns), a title and a body."""
    import yaml

    front = yaml.safe_dump({"library_name": "transformers", "pipeline_tag": "image-text-to-text",
                            "license": "apache-2.0", "visionr1_synth": info}, sort_keys=False, allow_unicode=True)
    family = info.get("family", "qwen2.5-vl")
    repo = HUB_REPOS.get(family, HUB_REPOS["qwen2.5-vl"])
    if info.get("thinking"):
        repo = repo.replace("-Instruct", "-Thinking")
    options = (f" --family {family}" if family != "qwen2.5-vl" else "") + (" --thinking" if info.get("thinking")
                                                                           else "")
    name = "Qwen2.5-VL" if family == "qwen2.5-vl" else repo.split("/")[1]
    title = title or f"Synthetic {name} ({info['size']}, seed {info['seed']})"
    body = body or (f"Random weights, {info['parameters']:,} parameters, in the file layout of "
                    f"`{repo}`. Made by `visionr1 synth tiny-model{options} --size "
                    f"{info['size']} --seed {info['seed']}` (visionr1 {info['version']}); see docs/synth.md.")
    return f"---\n{front}---\n<!-- written by {info['generator']} -->\n\n# {title}\n\n{body}\n"


def read_card(path: str | Path) -> dict:
    """How a synthetic checkpoint was made (the card's ``visionr1_synth`` front matter); {} for any other
    checkpoint."""
    from visionr1.inputs import check_document, parse_yaml, read_text

    f = Path(path) / CARD
    text = read_text(f) if f.is_file() else ""
    if CARD_TAG not in text:
        return {}
    parts = text.split("---\n")
    front = parse_yaml(parts[1], f) if len(parts) > 2 else None
    info = check_document(front, f"{f} (front matter)", dict, {"visionr1_synth": dict})["visionr1_synth"]
    return info
