"""`evscallpro` command line: one entry point, one subcommand per tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _register_sim(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from asterisk.sim import cli as sim_cli

    sim_cli.register(sub)


def _register_dial(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import dial

    dial.register(sub)


def _register_analytics(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from analytics import cli as analytics_cli

    analytics_cli.register(sub)


def _register_serve(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import serve

    serve.register(sub)


def _register_gateway_tools(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro.people import user_problem
    from gateway import cli as gateway_cli

    gateway_cli.register_import_contacts(sub)
    gateway_cli.register_add_user(sub, check_user=user_problem)


def _register_do_not_call(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import do_not_call

    do_not_call.register(sub)


def _register_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import demo

    demo.register(sub)


def _register_node(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import node_process

    node_process.register(sub)


def _register_analytics_process(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import analytics_process

    analytics_process.register(sub)


def _register_gateway_process(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from evscallpro import gateway_process

    gateway_process.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evscallpro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _REGISTRARS:
        register(sub)
    return parser


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [  # type: ignore[type-arg]
    _register_sim,
    _register_dial,
    _register_serve,
    _register_analytics,
    _register_gateway_tools,
    _register_do_not_call,
    _register_demo,
    _register_node,
    _register_analytics_process,
    _register_gateway_process,
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
