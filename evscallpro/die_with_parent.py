"""Exec a command that the kernel kills when the supervisor dies: `python -m
evscallpro.die_with_parent -- PROGRAM ARGS...`.

`evscallpro serve` starts its children (and its nats-server) through this launcher so that a
supervisor killed with SIGKILL leaves no orphan behind: the processes of a crashed `serve`
are gone with it, as the single process of the past was (a restarted `serve` adopts the
calls left up in Asterisk, and finds no old node still holding the Stasis app). On Linux it
sets PR_SET_PDEATHSIG (SIGKILL) and then exec()s the command: the setting survives the exec.
The parent is checked once more after setting it (it may have died in between). Elsewhere
it only execs.

Standard library only, so the launcher adds a few milliseconds to a start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PARENT_ENV = "EVSCALLPRO_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def command(argv: list[str]) -> list[str]:
    """The launcher's command line for `argv` (argv[0]: a path or a name on PATH)."""
    return [sys.executable, "-m", "evscallpro.die_with_parent", "--", *argv]


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not fatal: the supervisor still stops its children itself
    expected = os.environ.get(PARENT_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(1)  # the supervisor died before the setting took effect


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m evscallpro.die_with_parent -- PROGRAM ARGS...", file=sys.stderr)
        return 2
    _die_with_parent()
    os.execvp(argv[0], argv)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
