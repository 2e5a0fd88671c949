"""Tests of `serve` / `demo` that need the product's child processes (`evscallpro node`,
`gateway`, `analytics` of issue 8, written on other branches): expected to fail while those
subcommands are not registered in evscallpro/cli.py, plain tests once they are (the marker
then does nothing: nothing to remove after the merge)."""

from __future__ import annotations

import argparse

import pytest

from evscallpro import cli


def child_processes_exist() -> bool:
    parser = cli.build_parser()
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"node", "gateway"} <= set(commands)


needs_child_processes = pytest.mark.xfail(
    not child_processes_exist(),
    reason="needs the node / gateway / analytics processes (issue 8, other branches): "
    "runs for real once the lead merged them",
    strict=True,
)
