"""``python -m visionr1.train ...`` with a record of every generation batch, per process (for
tests/test_train_sampling.py under ``accelerate launch``): the local prompts, the rewards TRL gathered from every
process, the advantages of the local slice, the reward schedule's step and phase, and the generation config the
rollouts used. Written to ``$PROBE_OUT/probe-<rank>.json`` when the run ends."""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

import trl.trainer.grpo_trainer as grpo

import visionr1.rewards.reward as reward_module

RECORDS: list[dict] = []
RANK = int(os.environ.get("RANK", "0"))
OUT = Path(os.environ["PROBE_OUT"])

_generate_and_score = grpo.GRPOTrainer._generate_and_score_completions
_calculate_rewards = grpo.GRPOTrainer._calculate_rewards
_score_batch = reward_module.score_batch
_generate = grpo.GRPOTrainer._generate_single_turn


def _key(row: dict) -> str:
    return json.dumps({k: row[k] for k in ("prompt", "gt", "width", "height")}, sort_keys=True, default=str)


def calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
    rewards = _calculate_rewards(self, inputs, prompts, completions, completion_ids_list)
    RECORDS.append({"what": "rewards", "step": self.state.global_step, "process": self.accelerator.process_index,
                    "processes": self.accelerator.num_processes, "keys": [_key(r) for r in inputs],
                    "gathered": rewards.tolist(), "weights": self.reward_weights.tolist()})
    return rewards


def generate_and_score(self, inputs):
    out = _generate_and_score(self, inputs)
    RECORDS.append({"what": "batch", "step": self.state.global_step, "advantages": out["advantages"].tolist()})
    return out


def score_batch(*args, steps, total_steps, config, **kwargs):
    RECORDS.append({"what": "schedule", "steps": sorted(set(steps)), "total_steps": total_steps,
                    "phase": config.schedule.phase(steps[0], total_steps)})
    return _score_batch(*args, steps=steps, total_steps=total_steps, config=config, **kwargs)


def generate(self, *args, **kwargs):
    g = self.generation_config
    RECORDS.append({"what": "generation", **{k: getattr(g, k) for k in (
        "do_sample", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "max_new_tokens")}})
    return _generate(self, *args, **kwargs)


grpo.GRPOTrainer._generate_and_score_completions = generate_and_score
grpo.GRPOTrainer._calculate_rewards = calculate_rewards
grpo.GRPOTrainer._generate_single_turn = generate
reward_module.score_batch = score_batch
atexit.register(lambda: (OUT / f"probe-{RANK}.json").write_text(json.dumps(RECORDS)))

if __name__ == "__main__":
    from visionr1.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
