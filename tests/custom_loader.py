"""A ``--model-loader`` for the tests: what a user writes for a model transformers cannot load."""

from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

calls = []


def load(path, config):
    calls.append((path, config.family))
    processor = AutoProcessor.from_pretrained(path, size={"shortest_edge": config.min_pixels,
                                                          "longest_edge": config.max_pixels})
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path), processor
