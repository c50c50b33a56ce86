"""CPU threads per process, chosen on purpose: on a shared machine torch's default (every core) makes processes
fight over the cores (GRPO steps of the tiny model: 7.5-37 s against 2.0-2.2 s with one thread per process
while another process ran on the 2 cores)."""

from __future__ import annotations

import os
import sys

ENV = "VISIONR1_THREADS"


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choose(requested: int | None = None) -> tuple[int, str]:
    """Threads per process and why: ``requested`` (``--threads``), else ``VISIONR1_THREADS``, else
    ``OMP_NUM_THREADS``, else the CPUs not busy at start (this machine's 1-minute load average subtracted) shared
    by the processes of this launch on this machine (``LOCAL_WORLD_SIZE``), at least 1."""
    from visionr1.errors import VisionR1Error

    for value, source in ((requested, "--threads"), (os.environ.get(ENV), ENV),
                          (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS")):
        if value is None or value == "":
            continue
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise VisionR1Error(f"{source} must be a positive number of threads, got '{value}'")
        return n, f"set by {source}"
    total = cpus()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    free = max(1, total - int(load))
    n = max(1, free // local)
    return n, (f"{total} CPUs, load {load:.1f} at start, {local} process{'es' if local > 1 else ''} here; "
               f"--threads or {ENV} to choose")


_chosen: tuple[int, str] | None = None


def apply(requested: int | None = None) -> tuple[int, str]:
    """Use the chosen number of threads in this process (and in the processes it starts)."""
    global _chosen
    if requested is not None or _chosen is None or os.environ.get("OMP_NUM_THREADS") != str(_chosen[0]):
        _chosen = choose(requested)  # else: chosen already by this process (the demo runs its stages in it)
    n, why = _chosen
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:  # read at import otherwise
        import torch

        torch.set_num_threads(n)
    return n, why


def announce() -> None:
    """Say in the log (stderr, main process) how many threads this process computes with and why: called by
    the commands that compute (training, evaluation, the demo) once their inputs are checked."""
    if os.environ.get("RANK", "0") != "0":
        return
    from visionr1.cli.console import err

    n, why = _chosen or apply()
    err.print(f"threads: {n} per process ({why})", highlight=False)
