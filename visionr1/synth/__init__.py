"""Synthetic stand-ins for the real world: a "shapes" localization world written in the public datasets'
file formats, and a tiny randomly initialised Qwen2.5-VL checkpoint."""

MAX_IMAGES = 20_000  # a world this size takes ~2 min to generate and more to render; larger ones are refused
