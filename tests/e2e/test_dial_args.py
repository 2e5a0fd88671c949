"""`evscallpro dial` refuses bad arguments with a clear error (exit 2) before it connects."""

from __future__ import annotations

import argparse
import json

import pytest

from evscallpro import dial

UNREACHABLE = "http://127.0.0.1:9"  # never contacted: the arguments are refused first


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    dial.register(parser.add_subparsers())
    return parser.parse_args(["dial", "--ari-url", UNREACHABLE, *argv])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--customer", "123"), "E.164"),
        (("--customer", "0612345678"), "E.164"),
        (("--customer", "+33612345678", "--timeout", "-5"), "--timeout"),
        (("--customer", "+33612345678", "--timeout", "0"), "--timeout"),
        (("--customer", "+33612345678", "--connect-timeout", "nan"), "--connect-timeout"),
        (("--customer", "+33612345678", "--talk", "inf"), "--talk"),
        (("--customer", "+33612345678", "--talk", "-1"), "--talk"),
    ],
)
def test_bad_arguments_exit_2_with_the_flag_named(
    argv: tuple[str, ...], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("--agent-endpoint", "Local/answer@sim-phones", *argv)
    assert args.handler(args) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert says in error
    assert "cannot connect" not in error


def test_good_arguments_build_the_request() -> None:
    args = parse(
        "--agent-endpoint", "Local/answer@sim-phones", "--customer", "+33612345678", "--talk", "0"
    )
    dial.check_durations(args)
    request = dial.build_request(args, dial.build_config(args))
    assert request.customer_number == "+33612345678"
    assert request.customer_endpoint == "PJSIP/+33612345678@trunk"  # the default template


def test_a_raw_customer_endpoint_gives_a_request_with_no_number() -> None:
    args = parse(
        "--agent-endpoint", "Local/answer@sim-phones", "--customer-endpoint", "PJSIP/+33612345678@x"
    )
    request = dial.build_request(args, dial.build_config(args))
    assert request.customer_endpoint == "PJSIP/+33612345678@x"
    assert request.customer_number == ""  # not guessed from the dial string, not invented
    assert request.problem() == ""
