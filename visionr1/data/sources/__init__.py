"""Readers of the public datasets' on-disk formats. Every reader returns boxes as ``[x1, y1, x2, y2]`` in pixels
of the original image and counts what it had to skip (and why) instead of dropping it silently."""

from visionr1.data.sources.base import AnnotatedImages, Expressions, Issues

__all__ = ["AnnotatedImages", "Expressions", "Issues"]
