"""Training options: TRL's GRPOConfig / SFTConfig plus Vision-R1's, each with the paper's default.

Batch semantics (current TRL): ``per_device_train_batch_size`` counts COMPLETIONS, not prompts. With
``num_generations`` G, one optimizer step on P processes with gradient accumulation A sees
``per_device_train_batch_size * A * P / G`` prompts. The 7B recipe (configs/grpo/qwen2.5-vl-7b.yaml: 8 GPUs,
G = 4, 8 completions per device, A = 2) sees 8 x 2 x 8 / 4 = 32 prompts per optimizer step.
"""

from __future__ import annotations

import difflib
import enum
import importlib.util
import json
import math
import os
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig, SFTConfig

from visionr1.errors import VisionR1Error
from visionr1.formats import FAMILIES, check_pixel_limits
from visionr1.inputs import MAX_SEED
from visionr1.rewards import RewardConfig

_REWARD = {f.name: f for f in fields(RewardConfig)}


def _reward_option(name: str):
    """The option ``name`` of RewardConfig, same default and help."""
    f = _REWARD[name]
    return field(default=f.default, metadata=f.metadata)


@dataclass
class _Common:
    """Options shared by GRPO and SFT."""

    family: str = _reward_option("family")
    min_pixels: int = _reward_option("min_pixels")
    max_pixels: int = _reward_option("max_pixels")
    freeze_vision_tower: bool = field(default=False, metadata={
        "help": "Keep the vision encoder (and its merger) frozen; only the language model is trained."})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=128, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "Modules that get adapters (peft's target_modules; 'all-linear' for every linear layer)."})
    # TrainingArguments options with other defaults
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})
    report_to: str = field(default="none", metadata={"help": "Trackers (tensorboard, wandb, ...); none by default."})
    save_strategy: str = field(default="steps", metadata={"help": "When to save checkpoints (steps, epoch, no)."})
    save_steps: float = field(default=200, metadata={"help": "Save a checkpoint every N steps."})
    bf16: bool | None = field(default=None, metadata={
        "help": "bf16 compute (default: on when a GPU has it). Weights stay fp32 (AdamW's updates at the paper's "
                "learning rates round away in bf16 weights) unless DeepSpeed keeps its own fp32 master copy."})
    attn_implementation: str | None = field(default=None, metadata={
        "help": "Attention kernel: sdpa (transformers' default), eager, flash_attention_2 (the released code's; "
                "needs flash-attn), flash_attention_3, flex_attention."})
    model_loader: str | None = field(default=None, metadata={
        "help": "'module:function' returning (model, processor) for a model transformers cannot load "
                "(e.g. Griffon-G); called with the model path and this config."})
    progress_every: int = field(default=0, metadata={
        "help": "Where stderr is not a terminal (SLURM, nohup, a pipe): a progress line every N steps (step, "
                "reward terms, loss, KL, seconds per step, time left); 0: a twentieth of the run."})
    # held-out evaluation during training (visionr1 only; TRL's eval_strategy computes a loss, not mAP)
    heldout_every: int = field(default=0, metadata={
        "help": "Evaluate on the held-out set before the first step and every N steps: greedy answers scored as "
                "`visionr1 eval custom` scores them (mAP, AP50, AR100, mean reward) into metrics.jsonl and the "
                "curves (0: never)."})
    heldout_annotations: str | None = field(default=None, metadata={
        "help": "The held-out set: a COCO-format instances JSON (e.g. COCO's instances_val2017.json)."})
    heldout_images: str | None = field(default=None, metadata={"help": "The held-out set's image folder."})
    heldout_limit: int = field(default=32, metadata={
        "help": "Queries of the held-out set (its first images, the same at every evaluation)."})
    heldout_protocol: str = field(default="all", metadata={
        "help": "Queries of the held-out set: all (every category named, detection) or single+pos (one category "
                "per query, grounding).", "choices": ("all", "single+pos")})
    heldout_max_new_tokens: int = field(default=512, metadata={
        "help": "Longest held-out answer (the evaluation's --max-new-tokens)."})


@dataclass
class VisionR1GRPOConfig(_Common, GRPOConfig):
    """GRPO with the Vision-R1 reward (paper §3, Eq. 1-8)."""

    # TRL options whose defaults follow the paper
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate (paper: 1e-6)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the mix (paper: 1)."})
    beta: float = field(default=0.2, metadata={"help": "KL coefficient β of Eq. 2 (paper: 0.2)."})
    num_generations: int | None = field(default=4, metadata={"help": "Group size G (paper: 4)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the rollouts (paper: 1.0)."})
    max_completion_length: int | None = field(default=512, metadata={"help": "Longest completion (paper: 512)."})
    loss_type: str = field(default="grpo", metadata={
        "help": "TRL loss aggregation; 'grpo' is Eq. 2 (per-sequence mean over tokens)."})
    per_device_train_batch_size: int = field(default=8, metadata={
        "help": "COMPLETIONS per device and micro-step (a multiple of num_generations)."})
    use_bias_correction_kl: bool = field(default=False, metadata={
        "help": "Multiply the k3 KL term by the importance ratio (TRL 1.x default: on). Off = the k3 estimator of "
                "the paper's Eq. 2 and of the released code (trl 0.14)."})
    # the reward (docs/spec.md §3): the options of RewardConfig, except weights (TRL's reward_weights)
    preset: str = _reward_option("preset")
    switch: float | None = _reward_option("switch")
    switch_step: int | None = _reward_option("switch_step")
    phase1: tuple[float, float, float] = _reward_option("phase1")
    phase2: tuple[float, float, float] = _reward_option("phase2")
    differentiation: bool = _reward_option("differentiation")
    refinement: bool = _reward_option("refinement")
    matcher: str = _reward_option("matcher")
    count_reward: bool = _reward_option("count_reward")
    adaptive: bool = _reward_option("adaptive")
    adaptive_step: int = _reward_option("adaptive_step")

    def reward_config(self) -> RewardConfig:
        """The reward these options describe (weights go to TRL's ``reward_weights``)."""
        return RewardConfig(**{name: getattr(self, name) for name in _REWARD if name != "weights"})


@dataclass
class VisionR1SFTConfig(_Common, SFTConfig):
    """The paper's SFT baseline: the same mix, targets = the family's serialized ground truth."""

    learning_rate: float = field(default=2e-6, metadata={"help": "Learning rate (paper: 2e-6)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the mix (paper: 1)."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Samples per device and micro-step."})
    gradient_accumulation_steps: int = field(default=16, metadata={
        "help": "Micro-steps per optimizer step; effective batch = per_device x accumulation x processes "
                "(paper: 128)."})
    max_length: int | None = field(default=None, metadata={
        "help": "Truncate samples to this many tokens (None: no truncation; image tokens must never be cut)."})


KINDS = {"grpo": VisionR1GRPOConfig, "sft": VisionR1SFTConfig}


def _unknown(where: str, keys, known: set[str], flags: bool = False) -> None:
    """An option no config has is one line with the closest known one, spelt as written (``flags``: the command
    line's ``--max-step``, else the YAML file's ``max_step``)."""
    def spelt(name: str) -> str:
        return "--" + name.replace("_", "-") if flags else name

    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{spelt(close[0])}'?)" if close else ""
            raise VisionR1Error(f"{where}: unknown option '{spelt(key)}'{hint}")


def parse_overrides(args: list[str]) -> dict[str, str]:
    """``--key value`` / ``--key=value`` pairs from the command line (values stay text; see ``coerce``)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--"):
            raise VisionR1Error(f"unexpected argument '{tok}' (options are --key value)")
        key, eq, value = tok[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise VisionR1Error(f"option --{key} needs a value (e.g. --{key} true)")
            value, i = args[i + 1], i + 1
        out[key.replace("-", "_")] = value
        i += 1
    return out


_BOOLS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
# TRL 1.16 GRPO text options with a fixed set of values that TRL checks only once training runs (options whose
# metadata lists "choices" are checked against those)
GRPO_CHOICES = {
    "scale_rewards": ("group", "batch", "none"),
    "vllm_mode": ("colocate", "server"),
    "loss_type": ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"),
    "importance_sampling_level": ("token", "sequence"),
}
ALIASES = {"scale_rewards": {"true": "group", "false": "none"}}  # TRL maps the booleans True / False
POSITIVE = ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
            "num_generations", "max_completion_length", "temperature", "min_pixels", "max_pixels", "lora_r",
            "lora_alpha", "save_steps", "logging_steps", "max_length", "top_p", "heldout_limit",
            "heldout_max_new_tokens")
NON_NEGATIVE = ("beta", "weight_decay", "lora_dropout", "top_k", "warmup_steps", "max_grad_norm", "heldout_every",
                "progress_every", "dataloader_num_workers", "dataloader_prefetch_factor")
SEEDS = ("seed", "data_seed")  # numpy takes seeds in [0, MAX_SEED]
# model_init_kwargs that other options own
OWNED_INIT_KWARGS = {"dtype": "bf16", "torch_dtype": "bf16", "attn_implementation": "attn_implementation"}


_TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
               "list": "a list", "tuple": "a list", "dict": "a mapping"}


def _type_name(f) -> str:
    """What option ``f`` takes, in words: ``int | None`` -> "a whole number" (None: the option's "none")."""
    parts = [p.strip() for p in str(f.type).replace("<class '", "").replace("'>", "").split("|")]
    words = [_TYPE_WORDS.get(p.split("[")[0], p) for p in parts if p not in ("None", "NoneType")]
    return " or ".join(dict.fromkeys(words))


def coerce(f, raw: Any) -> Any:
    """A value of option ``f`` as its type: text from the command line or the YAML file becomes a boolean,
    number or YAML list; other values must already have the type. Errors name the option."""
    kind = str(f.type)
    flag = f"--{f.name.replace('_', '-')}"
    choices = _ENUMS.get(f.name)
    if choices and isinstance(raw, str) and raw not in {str(e.value) for e in choices}:
        raise VisionR1Error(f"option {flag} must be one of {', '.join(str(e.value) for e in choices)}, got '{raw}'")
    if isinstance(raw, str):
        if raw.lower() in ("none", "null") and ("None" in kind or "Optional" in kind):
            return None
        if f.name in ALIASES:
            return ALIASES[f.name].get(raw.lower(), raw)
        try:
            if "list" in kind or "dict" in kind or "tuple" in kind:
                return yaml.safe_load(raw) if "str" not in kind or raw.lstrip()[:1] in "[{" else raw
            if "bool" in kind and "str" not in kind:
                if raw.lower() not in _BOOLS:
                    raise ValueError
                return _BOOLS[raw.lower()]
            if "float" in kind:
                value = float(raw)
            elif "int" in kind:
                value = int(raw)
            else:
                return raw
        except (ValueError, yaml.YAMLError):
            raise VisionR1Error(f"option {flag} takes {_type_name(f)}, got '{raw}'") from None
        raw = value
    if raw is None and ("None" in kind or "Optional" in kind):
        return None
    container = any(t in kind for t in ("list", "dict", "tuple"))
    numeric = not container and ("float" in kind or "int" in kind) and "str" not in kind
    if numeric and (isinstance(raw, bool) or not isinstance(raw, (int, float))
                    or ("float" not in kind and isinstance(raw, float))):  # 2.5 (or 2.0) for a count
        raise VisionR1Error(f"option {flag} takes {_type_name(f)}, got {raw!r}")
    if numeric and not math.isfinite(raw):
        raise VisionR1Error(f"option {flag} must be a finite number, got {raw}")
    if not container and "bool" in kind and "str" not in kind and not isinstance(raw, bool):
        raise VisionR1Error(f"option {flag} takes true or false, got {raw!r}")
    if not container and "str" in kind and not isinstance(raw, str) and not (
            isinstance(raw, bool) and "bool" in kind) and not (
            isinstance(raw, (int, float)) and not isinstance(raw, bool) and ("int" in kind or "float" in kind)):
        raise VisionR1Error(f"option {flag} takes {_type_name(f)}, got {raw!r}")
    return raw


def _enums() -> dict[str, type[enum.Enum]]:
    """transformers' options whose values are an Enum's (``save_strategy``: SaveStrategy, ``optim``, ...); TRL
    re-declares some of them as plain ``str``, checked only when training starts."""
    from transformers import TrainingArguments

    return {f.name: e for f in fields(TrainingArguments) for e in typing.get_args(f.type)
            if isinstance(e, type) and issubclass(e, enum.Enum)}


_ENUMS = _enums()


def deepspeed_stage(ds: str | dict | None) -> int | None:
    """The ZeRO stage a run will use: the ``deepspeed`` option ``ds`` (a JSON file or its content), else
    ``accelerate launch``'s DeepSpeed settings; None without DeepSpeed."""
    if ds:
        doc = ds if isinstance(ds, dict) else json.loads(Path(ds).read_text(encoding="utf-8"))
        return int((doc.get("zero_optimization") or {}).get("stage", 0))
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return int(os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2"))
    return None


def _check_deepspeed(ds: Any) -> None:
    """The ``deepspeed`` option names a readable JSON config."""
    if ds is None or isinstance(ds, dict):
        pass
    elif not Path(ds).is_file():
        raise VisionR1Error(f"deepspeed config not found: {ds}")
    else:
        try:
            doc = json.loads(Path(ds).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise VisionR1Error(f"{ds}: not a JSON DeepSpeed config ({exc})") from None
        if not isinstance(doc, dict):
            raise VisionR1Error(f"{ds}: a DeepSpeed config is a JSON object")


def _check_report_to(report_to: Any) -> None:
    """Every tracker ``report_to`` names is one transformers knows and is installed (transformers fails at the
    first step otherwise)."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    names = report_to if isinstance(report_to, list) else [report_to] if isinstance(report_to, str) else []
    for name in names:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise VisionR1Error(f"option --report-to: unknown tracker '{name}' (choose from none, all, "
                                f"{', '.join(INTEGRATION_TO_CALLBACK)})")
        if name not in get_available_reporting_integrations():
            raise VisionR1Error(f"option --report-to {name}: the '{name}' package is not installed (pip install "
                                f"{name}, or report_to: none)")


def _check_ranges(values: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Numbers in range (before TRL's own checks, some of which divide by them)."""
    def get(name):
        return values.get(name, defaults.get(name))

    for name in POSITIVE:
        v = get(name)
        if isinstance(v, (int, float)) and not v > 0:
            raise VisionR1Error(f"option --{name.replace('_', '-')} must be positive, got {v}")
    for name in NON_NEGATIVE:
        v = get(name)
        if isinstance(v, (int, float)) and v < 0:
            raise VisionR1Error(f"option --{name.replace('_', '-')} must be >= 0, got {v}")
    for name in SEEDS:
        v = get(name)
        if isinstance(v, int) and not 0 <= v <= MAX_SEED:
            raise VisionR1Error(f"option --{name.replace('_', '-')} must be in [0, {MAX_SEED}], got {v}")
    strategy = get("eval_strategy")
    if strategy not in (None, "no") and str(getattr(strategy, "value", strategy)) != "no":
        raise VisionR1Error(f"option --eval-strategy {getattr(strategy, 'value', strategy)}: visionr1 train takes "
                            "no eval data set (TRL's evaluation is a loss); use heldout_every for the held-out mAP")
    _check_report_to(get("report_to"))
    steps = get("max_steps")
    if isinstance(steps, int) and steps != -1 and steps <= 0:
        raise VisionR1Error(f"option --max-steps must be positive (or -1: the epochs decide), got {steps}")
    check_pixel_limits(get("min_pixels"), get("max_pixels"))


def _check_max_length(config) -> None:
    """SFT's ``max_length`` holds an image's tokens at ``max_pixels`` and more: a sequence cut inside its image
    tokens fails in the model's forward pass, at the first step."""
    from visionr1.formats import get_adapter

    length, pixels = getattr(config, "max_length", None), getattr(config, "max_pixels", None)
    if length is None or pixels is None:
        return
    tokens = int(pixels) // get_adapter(config.family).factor ** 2
    if length <= tokens:
        raise VisionR1Error(f"option --max-length ({length}) is not longer than an image's tokens at --max-pixels "
                            f"({pixels}: up to {tokens} tokens): raise --max-length or lower --max-pixels")


def _check(kind: str, config) -> None:
    """Ranges and combinations TRL checks late (at the first step) or not at all."""
    from visionr1.models import check_attention

    for f in fields(config):
        allowed = f.metadata.get("choices") or (GRPO_CHOICES.get(f.name) if kind == "grpo" else None)
        v = getattr(config, f.name)
        if allowed and v is not None and v not in allowed:
            raise VisionR1Error(f"option --{f.name.replace('_', '-')} must be one of {', '.join(allowed)}, got '{v}'")
    check_attention(config.attn_implementation)
    init = config.model_init_kwargs
    if isinstance(init, str):
        try:
            init = config.model_init_kwargs = json.loads(init)
        except ValueError:
            init = None
    if init is not None and not isinstance(init, dict):
        raise VisionR1Error(f"option --model-init-kwargs takes a mapping (from_pretrained keywords), got {init!r}")
    for key in set(init or ()) & set(OWNED_INIT_KWARGS):
        raise VisionR1Error(f"model_init_kwargs: '{key}' is set by the {OWNED_INIT_KWARGS[key]} option; use that")
    if kind != "grpo":
        _check_max_length(config)
        return
    weights = config.reward_weights
    if weights is not None and (not isinstance(weights, list) or len(weights) != 3 or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)):
        raise VisionR1Error(f"option --reward-weights takes 3 numbers (format, recall, precision), got {weights!r}")
    if config.use_vllm and importlib.util.find_spec("vllm") is None:
        raise VisionR1Error("use_vllm needs vLLM, which is not installed: pip install -e '.[vllm]' (or leave "
                            "use_vllm off to generate with transformers)")
    config.reward_config()  # validates the reward options


def load_config(kind: str, path: Path | None, overrides: dict[str, Any], output_dir: Path):
    """The ``kind`` (grpo / sft) options: defaults, then the YAML file, then command-line overrides. Unknown keys,
    values of the wrong type or out of range and TRL's own consistency checks are one-line errors, before any
    model is loaded."""
    cls = KINDS[kind]
    by_name = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise VisionR1Error(f"config file not found: {path}")
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise VisionR1Error(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
        if not isinstance(doc, dict):
            raise VisionR1Error(f"{path}: a training config is a mapping of option: value")
        _unknown(str(path), doc, set(by_name))
        values.update({k: ("yes" if v else "no") if isinstance(v, bool) and str(by_name[k].type) == "str" else v
                       for k, v in doc.items()})  # YAML reads `save_strategy: no` as false
    _unknown("command line", overrides, set(by_name), flags=True)
    from_file = {k for k in values if k not in overrides}
    values.update(overrides)
    try:
        config = _checked_config(kind, cls, by_name, values, output_dir)
        config._given = frozenset(values)  # what the file and the command line set (see describe)
        return config
    except VisionR1Error as exc:  # a value the file gives, or no option named at all: the message names the file
        named = [k for k in values if f"--{k.replace('_', '-')}" in str(exc) or k in str(exc)]
        if path is not None and str(path) not in str(exc) and (set(named) & from_file or (from_file and not named)):
            raise VisionR1Error(f"{path}: {exc}") from None
        raise


def _checked_config(kind: str, cls, by_name: dict, values: dict[str, Any], output_dir: Path):
    """``load_config`` after the file is read: values coerced and checked, the config built."""
    import torch

    values = {k: coerce(by_name[k], v) for k, v in values.items()}
    values["output_dir"] = str(output_dir)
    if values.get("bf16") is None:
        values["bf16"] = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if not torch.cuda.is_available():
        values.setdefault("use_cpu", True)
    if values.get("family", "qwen2.5-vl") not in FAMILIES:
        raise VisionR1Error(f"unknown family '{values['family']}' (known: {', '.join(FAMILIES)})")
    defaults = {f.name: f.default for f in fields(cls)}
    if kind == "grpo":
        per_device = values.get("per_device_train_batch_size", defaults["per_device_train_batch_size"])
        group = values.get("num_generations", defaults["num_generations"])
        if isinstance(per_device, int) and isinstance(group, int) and group > 0 and per_device % group:
            raise VisionR1Error(f"per_device_train_batch_size ({per_device}) counts completions and must be a "
                                f"multiple of num_generations ({group})")
    _check_ranges(values, defaults)
    _check_deepspeed(values.get("deepspeed"))
    stage = deepspeed_stage(values.get("deepspeed"))
    if values.get("heldout_every") and stage == 3:
        raise VisionR1Error("heldout_every with DeepSpeed ZeRO-3 is not supported (greedy answers of partitioned "
                            "weights need every process in step): evaluate the saved checkpoints with `visionr1 eval`")
    if values.get("heldout_every") and not (values.get("heldout_annotations") and values.get("heldout_images")):
        raise VisionR1Error("heldout_every needs the held-out set: heldout_annotations (a COCO-format JSON) and "
                            "heldout_images (its image folder)")
    if values.get("use_lora") and stage == 3:
        raise VisionR1Error("use_lora with DeepSpeed ZeRO-3 is not supported (the adapters cannot be merged into "
                            "partitioned weights): use configs/accelerate/zero2.yaml or ddp.yaml for LoRA")
    if stage is not None and importlib.util.find_spec("deepspeed") is None:  # before TrainingArguments imports it
        raise VisionR1Error("DeepSpeed is requested (deepspeed option or an accelerate DeepSpeed config) but not "
                            "installed: pip install deepspeed")
    try:
        config = cls(**values)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise VisionR1Error(f"invalid {kind} options: {' '.join(str(exc).split())}") from None
    _check(kind, config)
    return config


# GRPO options that decide how rollouts are sampled and how the loss is formed: run_config.json records every one
# at the value the run used, TRL's default included (tests/test_train_sampling.py checks them against the
# trainer's generation config)
SAMPLING_OPTIONS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "generation_kwargs",
                    "max_completion_length", "num_generations", "generation_batch_size", "steps_per_generation",
                    "use_vllm", "vllm_mode", "vllm_importance_sampling_correction", "vllm_importance_sampling_mode",
                    "vllm_importance_sampling_clip_min", "vllm_importance_sampling_clip_max")
LOSS_OPTIONS = ("loss_type", "beta", "use_bias_correction_kl", "scale_rewards", "reward_weights",
                "multi_objective_aggregation", "num_iterations", "epsilon", "epsilon_high", "delta",
                "importance_sampling_level", "mask_truncated_completions", "top_entropy_quantile", "entropy_coef",
                "off_policy_mask_threshold", "cast_lm_head_to_fp32", "sync_ref_model")
_ALWAYS = {"learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
           "max_steps", "seed", "bf16", "attn_implementation"}


_NOT_RECORDED = ("hub_token", "output_dir")  # a credential; the folder itself (a run moved is the same run)


def describe(config) -> dict[str, Any]:
    """The options that differ from TRL's defaults (set by the YAML file or the command line, or a default of
    visionr1's), every sampling and loss option (GRPO) and all of Vision-R1's (for run_config.json and the run
    record's config hash). The hub token is never recorded."""
    grpo = isinstance(config, VisionR1GRPOConfig)
    trl = {f.name: _default(f) for f in fields(GRPOConfig if grpo else SFTConfig)}
    ours = {f.name: _default(f) for f in fields(config)}
    # TRL's __post_init__ derives some options from others (activation_checkpointing, ...): those not set
    # (not given, TRL's default) are not recorded even where the derived value differs from the field's default
    chosen = set(getattr(config, "_given", ())) | {k for k, v in trl.items() if k in ours and ours[k] != v}
    recorded = _ALWAYS | (set(SAMPLING_OPTIONS) | set(LOSS_OPTIONS) if grpo else set())
    out = {}
    for f in fields(config):
        v = getattr(config, f.name)
        if f.name in _NOT_RECORDED:
            continue
        if f.name not in trl or f.name in recorded or (f.name in chosen and v != trl[f.name]):
            out[f.name] = v if isinstance(v, (int, float, str, bool, list, dict, type(None))) else str(v)
    return out


def _default(f) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default
