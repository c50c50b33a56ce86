"""Shared fixtures: one synthetic world and one tiny model per test session, built through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from visionr1.cli import main

WORLD_SEED = 0
WORLD_IMAGES = 24


def run_cli(*args: str) -> int:
    """Invoke ``visionr1`` in-process and return its exit code."""
    return main([str(a) for a in args])


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    assert run_cli("synth", "world", "--out", out, "--seed", WORLD_SEED, "--images", WORLD_IMAGES) == 0
    return out


@pytest.fixture(scope="session")
def world():
    """What the generator intended, in memory."""
    from visionr1.synth.world import build_world

    return build_world(WORLD_SEED, WORLD_IMAGES)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny-model")
    assert run_cli("synth", "tiny-model", "--out", out, "--seed", 0) == 0
    return out


# Property tests explore new examples on every local run; CI replays a fixed, derandomised set so that a
# submission's result does not depend on luck (a failure found locally is kept as an explicit case).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
