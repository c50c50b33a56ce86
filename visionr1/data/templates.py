"""Instruction templates (paper Table 8), stored as data in ``templates/<family>.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from visionr1.errors import VisionR1Error
from visionr1.resources import resource_dir

TASKS = ("detection", "grounding", "rec")


@dataclass(frozen=True)
class Template:
    """One instruction template; ``render`` fills in the category set or the asked object."""

    id: str
    task: str
    text: str
    list_separator: str

    def render(self, categories: list[str] | tuple[str, ...]) -> str:
        """Detection lists the whole category set; grounding and REC name one category / expression."""
        if self.task == "detection":
            return self.text.format(categories=self.list_separator.join(categories))
        if len(categories) != 1:
            raise ValueError(f"{self.task} template {self.id} takes exactly one category, got {len(categories)}")
        return self.text.format(category=categories[0])


@cache
def template_families() -> tuple[str, ...]:
    """The families with prompt templates (``templates/<family>.yaml``): the ones a mix can be built for."""
    return tuple(sorted(p.stem for p in resource_dir("templates").glob("*.yaml")))


def load_templates(family: str) -> dict[str, tuple[Template, ...]]:
    """Templates of ``family`` keyed by task."""
    path = resource_dir("templates") / f"{family}.yaml"
    if not path.is_file():
        raise VisionR1Error(f"no templates for family '{family}' ({path} missing; known: "
                            f"{', '.join(template_families())})")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    sep = doc.get("list_separator", ", ")
    out = {}
    for task in TASKS:
        entries = doc.get("templates", {}).get(task) or []
        if not entries:
            raise VisionR1Error(f"{path}: no '{task}' templates")
        out[task] = tuple(Template(e["id"], task, e["text"], sep) for e in entries)
    return out
