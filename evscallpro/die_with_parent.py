"""Exec a command that the kernel kills when the supervisor dies: `python -m
evscallpro.die_with_parent --parent PID -- PROGRAM ARGS...`.

`evscallpro serve` starts its children (and its nats-server) through this launcher so that a
supervisor killed with SIGKILL leaves no orphan behind: the processes of a crashed `serve`
are gone with it, as the single process of the past was (a restarted `serve` adopts the
calls left up in Asterisk, and finds no old node still holding the Stasis app). On Linux it
sets PR_SET_PDEATHSIG (SIGKILL) and then exec()s the command: the setting survives the exec.
The parent (PID, the supervisor) is checked once more after setting it: it may have died
in between. Elsewhere it only execs.

Standard library only, so the launcher adds a few milliseconds to a start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def command(argv: list[str], parent_pid: int | None = None) -> list[str]:
    """The launcher's command line for `argv` (argv[0]: a path or a name on PATH), for a
    child of `parent_pid` (default: this process)."""
    parent = os.getpid() if parent_pid is None else parent_pid
    return [
        sys.executable,
        "-m",
        "evscallpro.die_with_parent",
        "--parent",
        str(parent),
        "--",
        *argv,
    ]


def _die_with_parent(expected_parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not fatal: the supervisor still stops its children itself
    if os.getppid() != expected_parent:
        os._exit(1)  # the supervisor died before the setting took effect


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "--parent" or not argv[1].isdigit() or argv[2] != "--":
        print(
            "usage: python -m evscallpro.die_with_parent --parent PID -- PROGRAM ARGS...",
            file=sys.stderr,
        )
        return 2
    _die_with_parent(int(argv[1]))
    argv = argv[3:]
    os.execvp(argv[0], argv)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
