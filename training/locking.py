"""One process per run folder: an exclusive lock held for the process's life."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

LOCK_FILE = ".lock"


class FolderInUse(Exception):
    """Another process holds the run folder."""


def lock_run(run_dir: Path) -> IO[str]:
    """Lock `run_dir` exclusively; keep the returned handle open as long as the lock is needed."""
    handle = open(Path(run_dir) / LOCK_FILE, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FolderInUse(f"{run_dir} is in use by another training process") from None
    return handle
