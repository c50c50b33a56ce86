"""Inference backends: batched Hugging Face generate, vLLM, and an oracle that answers with the ground truth."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence

from visionr1.errors import VisionR1Error
from visionr1.eval.sets import Query, query_geometry
from visionr1.formats import get_adapter, vl_utils_size

BACKENDS = ("hf", "vllm", "oracle")


def _messages(q: Query) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q.prompt}]}]


def _image(path: str, pre_resize: bool = False):
    """The RGB image of ``path``. ``pre_resize``: as qwen_vl_utils' ``fetch_image`` hands it to the processor in
    the released evaluation: RGBA composed over white, then resized (PIL's default filter) to ``vl_utils_size``."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if not pre_resize:
                return im.convert("RGB")
            if im.mode == "RGBA":
                rgb = Image.new("RGB", im.size, (255, 255, 255))
                rgb.paste(im, mask=im.split()[3])
            else:
                rgb = im.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # corrupt past the header (``sets.check_images`` read that)
        raise VisionR1Error(f"cannot decode image {path}: {exc}") from None
    h, w = vl_utils_size(rgb.height, rgb.width)
    return rgb.resize((w, h))


def _is_moe(model) -> bool:
    """The model's text config routes tokens to experts (it knows ``output_router_logits``)."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return hasattr(text, "output_router_logits")


class OracleBackend:
    """Answers every query with its ground truth in the family's format: an end-to-end check of the data
    layout, the coordinate conversions and the metrics (it must score 100)."""

    name = "oracle"

    def __init__(self, family: str, min_pixels: int, max_pixels: int, pre_resize: bool = False) -> None:
        self.adapter, self.pixels, self.pre_resize = get_adapter(family), (min_pixels, max_pixels), pre_resize

    def decoding(self) -> dict:
        return {"backend": self.name}

    def generate(self, queries: Sequence[Query]) -> list[str]:
        out = []
        for q in queries:
            geo = query_geometry(self.adapter, q, *self.pixels, self.pre_resize)
            out.append(self.adapter.serialize([{"label": lab, "bbox": list(b)} for lab, b in q.gt], geo, exact=True))
        return out


def hf_dtype() -> str:
    """The dtype the hf backend answers in: bfloat16 on a GPU that has it, else float32 (answers differ between
    the two, so an evaluation folder records it)."""
    import torch

    return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"


class HFBackend:
    """``model.generate`` on batches: left padding, greedy decoding (no sampling, no repetition penalty).
    ``released``: as the released evaluation calls it: the checkpoint's generation config with ``do_sample=False``
    and ``max_new_tokens`` (Qwen2.5-VL-7B-Instruct keeps repetition_penalty 1.05), images resized by
    qwen_vl_utils' rule first."""

    name = "hf"

    def __init__(self, model_path: str, family: str, min_pixels: int, max_pixels: int, max_new_tokens: int = 512,
                 loader: str | None = None, device=None, released: bool = False) -> None:
        import torch

        from visionr1.models import load_model

        model, processor = load_model(model_path, family=family, min_pixels=min_pixels, max_pixels=max_pixels,
                                      dtype=hf_dtype(), loader=loader)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        self._attach(model, processor, device, max_new_tokens, released)

    @classmethod
    def live(cls, model, processor, max_new_tokens: int) -> HFBackend:
        """Greedy answers of a model being trained, as its weights are now (its generation config, padding and
        mode are left as they were: the caller switches it to eval mode)."""
        self = cls.__new__(cls)
        self._attach(model, processor, next(model.parameters()).device, max_new_tokens, released=False)
        return self

    def _attach(self, model, processor, device, max_new_tokens: int, released: bool) -> None:
        from transformers import GenerationConfig

        self.model, self.processor, self.device = model, processor, device
        base = model.generation_config
        pad = base.pad_token_id if base.pad_token_id is not None else processor.tokenizer.pad_token_id
        if released:
            config = copy.deepcopy(base)
            config.update(do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad)
        else:
            config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                                      eos_token_id=base.eos_token_id, pad_token_id=pad, bos_token_id=base.bos_token_id)
        config.use_cache = True  # a model being trained may have it off (gradient checkpointing)
        self.config, self.max_new_tokens, self.released = config, max_new_tokens, released

    def decoding(self) -> dict:
        return {"backend": self.name, "greedy": True, "max_new_tokens": self.max_new_tokens,
                # unset in visionr1's own config: generate() applies no penalty, i.e. 1.0
                "repetition_penalty": 1.0 if self.config.repetition_penalty is None else self.config.repetition_penalty,
                "generation_config": "checkpoint" if self.released else "visionr1", "padding_side": "left",
                "dtype": str(self.model.dtype).removeprefix("torch.")}  # bfloat16 and float32 answers differ

    def chat(self, conversations: Sequence[list[dict]], images: Sequence[list]) -> list[str]:
        """Answer chat conversations (``{"type": "image"}`` placeholders, ``images`` in their order) in one
        batch."""
        import torch

        texts = [self.processor.apply_chat_template(c, add_generation_prompt=True) for c in conversations]
        flat = [im for ims in images for im in ims]
        inputs = self.processor(text=texts, images=flat or None, padding=True, padding_side="left",
                                return_tensors="pt").to(self.device)
        # generate() fills what a passed config leaves unset from model.generation_config (a checkpoint's
        # repetition_penalty 1.05, say), so the config is the model's own while it answers
        saved, self.model.generation_config = self.model.generation_config, self.config
        # MoE: a model saved by (or in) TRL's SFT has output_router_logits on, and transformers 5.25 then computes
        # the load-balancing loss at each decoding step with a mask of the whole sequence: a shape error
        extra = {"output_router_logits": False} if _is_moe(self.model) else {}
        try:
            with torch.inference_mode():
                out = self.model.generate(**inputs, **extra)
        finally:
            self.model.generation_config = saved
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def generate(self, queries: Sequence[Query]) -> list[str]:
        return self.chat([_messages(q) for q in queries], [[_image(q.image, self.released)] for q in queries])


class VLLMBackend:
    """vLLM offline inference with the same min/max_pixels as the HF processor (greedy; ``max_images`` per
    prompt)."""

    name = "vllm"

    def __init__(self, model_path: str, family: str, min_pixels: int, max_pixels: int,
                 max_new_tokens: int = 512, max_images: int = 1, released: bool = False) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise VisionR1Error("the vllm backend needs vLLM: pip install 'visionr1[vllm]' (GPU machines)") from None
        from visionr1.models import build_processor

        self.processor = build_processor(model_path, family=family, min_pixels=min_pixels, max_pixels=max_pixels)
        self.llm = LLM(model=model_path, limit_mm_per_prompt={"image": max_images},
                       mm_processor_kwargs={"min_pixels": min_pixels, "max_pixels": max_pixels})
        from transformers import GenerationConfig

        penalty = 1.0  # released: greedy with the checkpoint's repetition penalty, as HF generate applies it there
        if released:
            with contextlib.suppress(OSError):  # no generation_config.json: no penalty
                penalty = GenerationConfig.from_pretrained(model_path).repetition_penalty or 1.0
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, repetition_penalty=penalty)
        self.max_new_tokens, self.released = max_new_tokens, released

    def decoding(self) -> dict:
        return {"backend": self.name, "greedy": True, "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": self.params.repetition_penalty,
                "generation_config": "checkpoint" if self.released else "visionr1",
                "dtype": str(self.llm.llm_engine.model_config.dtype).removeprefix("torch.")}  # as the hf backend

    def chat(self, conversations: Sequence[list[dict]], images: Sequence[list]) -> list[str]:
        prompts = [{"prompt": self.processor.apply_chat_template(c, add_generation_prompt=True),
                    **({"multi_modal_data": {"image": ims}} if ims else {})}
                   for c, ims in zip(conversations, images, strict=True)]
        return [o.outputs[0].text for o in self.llm.generate(prompts, self.params, use_tqdm=False)]

    def generate(self, queries: Sequence[Query]) -> list[str]:
        return self.chat([_messages(q) for q in queries], [[_image(q.image, self.released)] for q in queries])


def make_backend(name: str, model: str | None, family: str, min_pixels: int, max_pixels: int,
                 max_new_tokens: int, loader: str | None = None, device=None, max_images: int = 1,
                 released: bool = False):
    """The backend ``name``; ``released``: decoding and image handling of the released evaluation."""
    if name not in BACKENDS:
        raise VisionR1Error(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    if name == "oracle":
        return OracleBackend(family, min_pixels, max_pixels, pre_resize=released)
    if model is None:
        raise VisionR1Error(f"the {name} backend needs --model")
    if name == "vllm":
        return VLLMBackend(model, family, min_pixels, max_pixels, max_new_tokens, max_images, released)
    return HFBackend(model, family, min_pixels, max_pixels, max_new_tokens, loader, device, released)
