"""Pinning a trial's process to a core of its own, so that trials running side by side do not
share a core (two one-thread runs pinned to their own cores run ~96 steps/s each on a 2-core
machine; unpinned, ~75).

A trial takes the first core whose lock file it can lock (one file per core, in the system's
temporary folder, shared by every sweep on the machine) and holds the lock until its process
ends, however it ends: the kernel releases a dead process's locks. With every core taken (more
trials than cores), the trial runs unpinned.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

_held: list[IO[bytes]] = []  # the lock files this process holds, open for as long as it lives


def lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"sac-sweep-cores-{os.getuid()}"


def pin_to_a_free_core() -> int | None:
    """Pin every thread of this process (and so the threads it starts later) to the first
    free core it is allowed to run on; that core, or None (no free core, or no affinity on this
    system)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    import fcntl

    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for core in sorted(os.sched_getaffinity(0)):
        handle = open(folder / f"core{core}.lock", "ab")  # noqa: SIM115 (held until exit)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held.append(handle)
        for thread in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else [0]:
            try:
                os.sched_setaffinity(int(thread), {core})
            except OSError:  # a thread that ended meanwhile
                pass
        return core
    return None
