"""The files of the hub's Qwen3-VL and Qwen3.5 checkpoints, with only sizes, token ids and weights changed.

Mirrors the hub repos ``Qwen/Qwen3-VL-8B-Instruct``, ``Qwen/Qwen3-VL-8B-Thinking``,
``Qwen/Qwen3-VL-30B-A3B-Instruct``, ``Qwen/Qwen3.5-9B`` and ``Qwen/Qwen3.5-35B-A3B``; docs/models.md ("Where each
value of the Qwen3 stand-ins comes from") lists the public source of each value, and which are not verified.
"""

from __future__ import annotations

# Qwen3-VL's chat template (chat_template.json of Qwen/Qwen3-VL-8B-Instruct) without its tool-call branches: no
# default system message, images as <|vision_start|><|image_pad|><|vision_end|>. The Thinking variant
# (Qwen/Qwen3-VL-8B-Thinking) opens the assistant turn with "<think>\n", so completions start inside the think
# block and must close it with </think> before the answer.
_CONTENT = (
    "{%- if message.content is string %}{{- message.content }}{%- else %}{%- for content in message.content %}"
    "{%- if content.type == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}{%- if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif content.type == 'video' or 'video' in content %}{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in content %}{{- content.text }}{%- endif %}{%- endfor %}{%- endif %}"
)


# The generation prompt. Qwen3-VL Instruct: the assistant turn only; Qwen3-VL Thinking: "<think>\n" after it.
# Qwen3.5 always writes a think section, switched by the ``enable_thinking`` template variable: the default of
# the stand-in (Qwen/Qwen3.5-0.8B's card: "operates in non-thinking mode by default") closes an empty block unless
# enable_thinking is true; with ``--thinking`` (Qwen3.5-35B-A3B / Qwen3.6, thinking unless enable_thinking is
# false) it opens one.
_QWEN35_TAIL = {
    False: "{%- if enable_thinking is defined and enable_thinking is true %}{{- '<think>\\n' }}"
           "{%- else %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}",
    True: "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
          "{%- else %}{{- '<think>\\n' }}{%- endif %}",
}


def chat_template(thinking: bool, family: str = "qwen3-vl") -> str:
    """The chat template of ``family`` (Instruct, or Thinking with ``thinking``)."""
    if family.startswith("qwen3.5"):
        tail = "{{- '<|im_start|>assistant\\n' }}" + _QWEN35_TAIL[thinking]
    else:
        tail = "{{- '" + ("<|im_start|>assistant\\n<think>\\n" if thinking else "<|im_start|>assistant\\n") + "' }}"
    return (
        "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' }}" + _CONTENT
        + "{{- '<|im_end|>\\n' }}{%- endfor %}"
        "{%- if add_generation_prompt %}" + tail + "{%- endif %}"
    )


def mrope_section(family: str, rotary_dim: int) -> list[int]:
    """The [t, h, w] split of the rotary frequencies (``rotary_dim`` / 2 of them, interleaved T H W T H W ...).
    Qwen3-VL gives h and w 20/64 each and t the rest: [24, 20, 20] at head_dim 128, transformers' default in
    ``modeling_qwen3_vl.py``. Qwen3.5 interleaves all three to the end: [11, 11, 10] for its 64 rotary dims
    (head_dim 256, partial_rotary_factor 0.25), the default in ``modeling_qwen3_5.py``."""
    half = rotary_dim // 2
    if family.startswith("qwen3.5"):
        t = -(-half // 3)
        return [t, t, half - 2 * t]
    hw = half * 20 // 64
    return [half - 2 * hw, hw, hw]


# Qwen3.5's attention head: 4x the stand-in's hidden / heads, so that the rotary quarter of it (16 dims, 8
# frequencies) still holds all three M-RoPE sections (the real head_dim is 256, 64 rotary dims)
QWEN35_HEAD_DIM_FACTOR = 4
QWEN35_ROTARY_SHARE = 0.25  # partial_rotary_factor of Qwen3.5's config.json: the rotating share of each head


def _text_config(family: str, dims, vocab_size: int, ids) -> dict:
    qwen35 = family.startswith("qwen3.5")
    head_dim = dims.hidden // dims.heads * (QWEN35_HEAD_DIM_FACTOR if qwen35 else 1)
    text = {
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"), "head_dim": head_dim, "hidden_act": "silu", "hidden_size": dims.hidden,
        "initializer_range": 0.02, "intermediate_size": dims.intermediate, "max_position_embeddings": 262144,
        "num_attention_heads": dims.heads, "num_hidden_layers": dims.layers, "num_key_value_heads": dims.kv_heads,
        "rms_norm_eps": 1e-06, "dtype": "bfloat16", "use_cache": True, "vocab_size": vocab_size,
        "rope_scaling": {"mrope_interleaved": True, "mrope_section": mrope_section(family, head_dim),
                         "rope_type": "default"},
        "rope_theta": 5000000,
    }
    if family.endswith("-moe"):
        # Qwen3-VL-30B-A3B: every layer sparse (decoder_sparse_step 1, no mlp_only_layers), top-k routing with
        # normalised weights; router logits off in inference (output_router_logits false), aux loss coefficient
        # 0.001 as transformers defines it
        text.update({"decoder_sparse_step": 1, "mlp_only_layers": [], "moe_intermediate_size": dims.intermediate // 2,
                     "num_experts": 4, "num_experts_per_tok": 2, "norm_topk_prob": True,
                     "output_router_logits": False, "router_aux_loss_coef": 0.001})
    if qwen35:
        # Qwen3.5 (config.json of Qwen/Qwen3.5-9B, -35B-A3B): linear (gated delta net) layers with a full-attention
        # layer every 4th (full_attention_interval 4); a quarter of the head rotates (rope_parameters); eos is
        # <|endoftext|> (248044) in the text config; one multi-token-prediction layer (its weights not shipped here:
        # transformers does not load them)
        text.update({"layer_types": ["linear_attention" if (i + 1) % 4 else "full_attention"
                                     for i in range(dims.layers - 1)] + ["full_attention"],
                     "full_attention_interval": 4, "linear_conv_kernel_dim": 4,
                     "linear_key_head_dim": dims.hidden // dims.heads,
                     "linear_value_head_dim": dims.hidden // dims.heads, "linear_num_key_heads": dims.kv_heads,
                     "linear_num_value_heads": dims.heads, "attn_output_gate": True,
                     "eos_token_id": ids("<|endoftext|>"), "mamba_ssm_dtype": "float32",
                     "mtp_num_hidden_layers": 1, "mtp_use_dedicated_embeddings": False, "mlp_only_layers": [],
                     "rope_parameters": {"mrope_interleaved": True,
                                         "mrope_section": mrope_section(family,
                                                                        int(head_dim * QWEN35_ROTARY_SHARE)),
                                         "rope_type": "default", "rope_theta": 10000000,
                                         "partial_rotary_factor": QWEN35_ROTARY_SHARE}})
        del text["rope_scaling"], text["rope_theta"]
        if family.endswith("-moe"):
            for k in ("decoder_sparse_step", "mlp_only_layers", "norm_topk_prob"):
                del text[k]
            text["shared_expert_intermediate_size"] = dims.intermediate // 2
    return text


MODEL_TYPES = {"qwen3-vl": ("qwen3_vl", "Qwen3VLForConditionalGeneration"),
               "qwen3-vl-moe": ("qwen3_vl_moe", "Qwen3VLMoeForConditionalGeneration"),
               "qwen3.5": ("qwen3_5", "Qwen3_5ForConditionalGeneration"),
               "qwen3.5-moe": ("qwen3_5_moe", "Qwen3_5MoeForConditionalGeneration")}


def hub_config(family: str, dims, vocab_size: int, ids) -> dict:
    """``config.json``: the nested layout (``text_config``, ``vision_config``) of the Qwen3-VL / Qwen3.5 repos;
    16-pixel patches merged 2x2, Qwen3-VL's DeepStack taps scaled to the tiny vision depth."""
    model_type, arch = MODEL_TYPES[family]
    text = _text_config(family, dims, vocab_size, ids)
    text["model_type"] = model_type + "_text"
    vision = {
        "depth": dims.vision_depth, "hidden_act": "gelu_pytorch_tanh", "hidden_size": dims.vision_hidden,
        "in_channels": 3, "initializer_range": 0.02, "intermediate_size": dims.vision_intermediate,
        "model_type": model_type, "num_heads": dims.vision_heads, "num_position_embeddings": 2304,
        "out_hidden_size": dims.hidden, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
    }
    # Qwen3-VL's DeepStack taps (8B: [8, 16, 24] of 27 blocks; here the last block); Qwen3.5 ships an empty list
    vision["deepstack_visual_indexes"] = [dims.vision_depth - 1] if family.startswith("qwen3-vl") else []
    return {
        "architectures": [arch], "image_token_id": ids("<|image_pad|>"), "model_type": model_type,
        "text_config": text, "tie_word_embeddings": False, "transformers_version": "4.57.0.dev0",
        "video_token_id": ids("<|video_pad|>"), "vision_config": vision,
        "vision_end_token_id": ids("<|vision_end|>"), "vision_start_token_id": ids("<|vision_start|>"),
    }


def hub_generation_config(ids, thinking: bool) -> dict:
    """``generation_config.json``: Qwen3-VL's published sampling (Instruct: temperature 0.7, top_p 0.8, top_k 20;
    Thinking: temperature 1.0, top_p 0.95, top_k 20), no repetition penalty."""
    pad, eos = ids("<|endoftext|>"), ids("<|im_end|>")
    sampling = {"temperature": 1.0, "top_p": 0.95} if thinking else {"temperature": 0.7, "top_p": 0.8}
    return {"bos_token_id": pad, "pad_token_id": pad, "do_sample": True, "eos_token_id": [eos, pad], "top_k": 20,
            **sampling, "repetition_penalty": 1.0, "transformers_version": "4.56.0"}


def hub_preprocessor(family: str) -> dict:
    """``preprocessor_config.json``: the pixel limits live in ``size`` (shortest_edge 65536 = 64 tokens of 32 px,
    longest_edge 16777216 = 16384 tokens), SigLIP-2 mean/std 0.5."""
    return {"size": {"longest_edge": 16777216, "shortest_edge": 65536}, "patch_size": 16,
            "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "processor_class": "Qwen3VLProcessor", "image_processor_type": "Qwen2VLImageProcessorFast"}


def hub_video_preprocessor(family: str) -> dict:
    """``video_preprocessor_config.json`` of the Qwen3-VL repos."""
    return {"size": {"longest_edge": 25165824, "shortest_edge": 4096}, "patch_size": 16, "temporal_patch_size": 2,
            "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "processor_class": "Qwen3VLProcessor", "video_processor_type": "Qwen3VLVideoProcessor"}


def hub_tokenizer_config(ids, specials: tuple[str, ...], n_special: int) -> dict:
    """``tokenizer_config.json``: Qwen2Tokenizer, no padding side (pads on the right), 262144 tokens; the think
    and tool-response tokens are added but not special (decoded text keeps them)."""
    return {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(ids(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                               "single_word": False, "special": i < 14}
                                 for i, t in enumerate(specials)},
        "additional_special_tokens": list(specials[1:14]), "bos_token": None, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 262144, "pad_token": "<|endoftext|>",
        "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
