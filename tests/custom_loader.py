"""A ``--model-loader`` for the tests: what a user writes for a model transformers cannot load."""

import torch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

calls = []


def load(path, config):
    from visionr1.models import build_processor

    calls.append((path, config.family))
    processor = build_processor(path, family=config.family, min_pixels=config.min_pixels,
                                max_pixels=config.max_pixels)
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32), processor


def load_ignoring_limits(path, config):
    """A loader that passes the limits the way that silently fails with a hub checkpoint."""
    processor = AutoProcessor.from_pretrained(path, size={"shortest_edge": config.min_pixels,
                                                          "longest_edge": config.max_pixels})
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32), processor
