"""Processes of this host, known by pid: whose files and runs may be cleaned up after them."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
