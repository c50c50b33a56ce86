"""A VLMEvalKit model that answers with visionr1's own inference backends (imported only when VLMEvalKit is)."""

from __future__ import annotations

from visionr1.eval.backends import _image
from visionr1.eval.qa import import_vlmeval

import_vlmeval()  # first: a plain import of vlmeval.vlm would leave autograd off

from vlmeval.vlm.base import BaseModel  # noqa: E402
from vlmeval.vlm.qwen2_vl.prompt import Qwen2VLPromptMixin  # noqa: E402


class VisionR1Chat(Qwen2VLPromptMixin, BaseModel):
    """VLMEvalKit's Qwen2-VL prompts (the ones its ``Qwen2VLChat`` uses) with visionr1's backend: the same model
    loading (``--model-loader`` included), min/max_pixels and greedy decoding as the localization benchmarks,
    on any device."""

    INTERLEAVE = True
    INSTALL_REQ = False

    def __init__(self, backend) -> None:
        super().__init__(use_custom_prompt=True)
        self.backend = backend

    def generate_inner(self, message: list[dict], dataset: str | None = None) -> str:
        content, images = [], []
        for item in message:
            if item["type"] == "image":
                content.append({"type": "image"})
                images.append(_image(item["value"]))
            else:
                content.append({"type": "text", "text": item["value"]})
        return self.backend.chat([[{"role": "user", "content": content}]], [images])[0]
