"""Synthetic stand-ins for the real world: a "shapes" localization world written in the public datasets'
file formats, and a tiny randomly initialised Qwen2.5-VL checkpoint."""
