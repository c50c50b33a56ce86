"""Inference backends: batched Hugging Face generate, vLLM, and an oracle that answers with the ground truth."""

from __future__ import annotations

from collections.abc import Sequence

from visionr1.errors import VisionR1Error
from visionr1.eval.sets import Query
from visionr1.formats import get_adapter

BACKENDS = ("hf", "vllm", "oracle")


def _messages(q: Query) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q.prompt}]}]


def _image(path: str):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


class OracleBackend:
    """Answers every query with its ground truth in the family's format: an end-to-end check of the data
    layout, the coordinate conversions and the metrics (it must score 100)."""

    name = "oracle"

    def __init__(self, family: str, min_pixels: int, max_pixels: int) -> None:
        self.adapter, self.pixels = get_adapter(family), (min_pixels, max_pixels)

    def decoding(self) -> dict:
        return {"backend": self.name}

    def generate(self, queries: Sequence[Query]) -> list[str]:
        out = []
        for q in queries:
            geo = self.adapter.geometry(q.width, q.height, min_pixels=self.pixels[0], max_pixels=self.pixels[1])
            out.append(self.adapter.serialize([{"label": lab, "bbox": list(b)} for lab, b in q.gt], geo, exact=True))
        return out


class HFBackend:
    """``model.generate`` on batches: left padding, greedy decoding (no sampling, no repetition penalty)."""

    name = "hf"

    def __init__(self, model_path: str, family: str, min_pixels: int, max_pixels: int, max_new_tokens: int = 512,
                 loader: str | None = None, device=None) -> None:
        import torch
        from transformers import GenerationConfig

        from visionr1.models import load_model

        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        self.model, self.processor = load_model(model_path, family=family, min_pixels=min_pixels,
                                                max_pixels=max_pixels, dtype="bfloat16" if bf16 else "float32",
                                                loader=loader)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        base = self.model.generation_config
        self.model.generation_config = GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, eos_token_id=base.eos_token_id,
            pad_token_id=base.pad_token_id if base.pad_token_id is not None else self.processor.tokenizer.pad_token_id,
            bos_token_id=base.bos_token_id)
        self.max_new_tokens = max_new_tokens

    def decoding(self) -> dict:
        return {"backend": self.name, "greedy": True, "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": 1.0, "padding_side": "left"}

    def chat(self, conversations: Sequence[list[dict]], images: Sequence[list]) -> list[str]:
        """Answer chat conversations (``{"type": "image"}`` placeholders, ``images`` in their order) in one
        batch."""
        import torch

        texts = [self.processor.apply_chat_template(c, add_generation_prompt=True) for c in conversations]
        flat = [im for ims in images for im in ims]
        inputs = self.processor(text=texts, images=flat or None, padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs)
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def generate(self, queries: Sequence[Query]) -> list[str]:
        return self.chat([_messages(q) for q in queries], [[_image(q.image)] for q in queries])


class VLLMBackend:
    """vLLM offline inference with the same min/max_pixels as the HF processor (greedy; ``max_images`` per
    prompt)."""

    name = "vllm"

    def __init__(self, model_path: str, family: str, min_pixels: int, max_pixels: int,
                 max_new_tokens: int = 512, max_images: int = 1) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise VisionR1Error("the vllm backend needs vLLM: pip install 'visionr1[vllm]' (GPU machines)") from None
        from visionr1.models import build_processor

        self.processor = build_processor(model_path, family=family, min_pixels=min_pixels, max_pixels=max_pixels)
        self.llm = LLM(model=model_path, limit_mm_per_prompt={"image": max_images},
                       mm_processor_kwargs={"min_pixels": min_pixels, "max_pixels": max_pixels})
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        self.max_new_tokens = max_new_tokens

    def decoding(self) -> dict:
        return {"backend": self.name, "greedy": True, "max_new_tokens": self.max_new_tokens}

    def chat(self, conversations: Sequence[list[dict]], images: Sequence[list]) -> list[str]:
        prompts = [{"prompt": self.processor.apply_chat_template(c, add_generation_prompt=True),
                    **({"multi_modal_data": {"image": ims}} if ims else {})}
                   for c, ims in zip(conversations, images, strict=True)]
        return [o.outputs[0].text for o in self.llm.generate(prompts, self.params, use_tqdm=False)]

    def generate(self, queries: Sequence[Query]) -> list[str]:
        return self.chat([_messages(q) for q in queries], [[_image(q.image)] for q in queries])


def make_backend(name: str, model: str | None, family: str, min_pixels: int, max_pixels: int,
                 max_new_tokens: int, loader: str | None = None, device=None, max_images: int = 1):
    if name not in BACKENDS:
        raise VisionR1Error(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    if name == "oracle":
        return OracleBackend(family, min_pixels, max_pixels)
    if model is None:
        raise VisionR1Error(f"the {name} backend needs --model")
    if name == "vllm":
        return VLLMBackend(model, family, min_pixels, max_pixels, max_new_tokens, max_images)
    return HFBackend(model, family, min_pixels, max_pixels, max_new_tokens, loader, device)
