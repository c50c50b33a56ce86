"""``python -m visionr1.train grpo|sft ...``: the entry point for ``accelerate launch`` / ``torchrun``."""

import sys

from visionr1.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
