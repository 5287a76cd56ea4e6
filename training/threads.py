"""CPU threads for torch: `--threads N` of `dcbench train` and `dcbench eval`.

torch starts one intra-op thread per core it sees. On a small machine that
something else also uses, those threads wait for each other at every operator
and steps get slower, not faster (benchmarks/threads.py measures it; figures
in benchmarks/README.md). The default, when --threads is not given:

* `$DCBENCH_THREADS` when set (it reaches the commands that train or evaluate
  inside a flow: `mix run`, `reproduce`);
* else one fewer than the CPUs this process may use (its affinity mask, which
  respects `taskset` and container CPU sets), shared among torchrun's local
  ranks, at least 1 and at most `MAX_DEFAULT`. The spare CPU is for whatever
  else runs (Ray, the OS, another job): on 2 CPUs beside one busy process,
  2 threads made training 1.2x and evaluation 2.8x slower than 1 thread, while
  on 2 quiet CPUs 2 threads were 1.5x faster (benchmarks/README.md, 2026-12-06);
  a quiet small machine gains that back with `--threads 2`.

`use_threads(n)` sets the intra-op threads (`torch.set_num_threads`) and the
inter-op threads (`torch.set_num_interop_threads`, which torch allows only
before its first parallel operation; later calls keep what was set) and
returns what is in effect, for the run's metadata.
"""

from __future__ import annotations

import os

from dcbench.errors import ConfigError

THREADS_ENV = "DCBENCH_THREADS"
MAX_DEFAULT = 4  # the small tiers' matrices gain little past this (benchmarks/threads.py)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads when --threads is not given (see the module doc)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"{THREADS_ENV}={raw!r}: give a whole number of threads >= 1, or unset it")
        return int(raw)
    ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, min((available_cpus() - 1) // ranks, MAX_DEFAULT))


def use_threads(threads: int | None = None) -> dict[str, int | str]:
    """Set torch's intra-op and inter-op CPU threads (default `default_threads()`); return them.

    The result, ``{"threads", "interop_threads", "source"}``, goes into the run's metadata;
    "source" says what chose the number: --threads, $DCBENCH_THREADS or the default rule.
    """
    # deferred: torch takes ~2 s to import (measured); the CLIs read THREADS_ENV before any torch work
    import torch

    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {threads})")
    source = "--threads" if threads is not None else (THREADS_ENV if os.environ.get(THREADS_ENV) else "default")
    n = threads if threads is not None else default_threads()
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # torch refuses once inter-op work has started: keep what is set
        pass
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "source": source}
