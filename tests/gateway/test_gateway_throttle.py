"""Login throttling that stops guessing without locking the real user out behind a shared
NAT (issue 10, item 9), and refusal logs at a bounded rate (item 6). Unit tests on a
manual clock; the gateway-level NAT scenario is in test_gateway_hardening.py."""

from __future__ import annotations

import logging

import pytest

from gateway.ratelimit import BoundedLog, LoginThrottle

OFFICE = "203.0.113.7"  # one NAT address for the whole call center
ELSEWHERE = "198.51.100.9"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, user: str, address: str, times: int) -> None:
    for _ in range(times):
        assert throttle.attempt(user, address)  # no `succeeded`: a failure


def login(throttle: LoginThrottle, user: str, address: str) -> bool:
    if not throttle.attempt(user, address):
        return False
    throttle.succeeded(user, address)
    return True


def test_guessing_many_names_from_the_office_does_not_lock_out_its_agents() -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 20, 300, clock=clock)
    assert login(throttle, "alice", OFFICE)  # alice works here
    for i in range(20):
        fail(throttle, f"ghost{i}", OFFICE, 1)
    assert not throttle.allowed("ghost99", OFFICE)  # the address is at its ceiling
    assert login(throttle, "alice", OFFICE)  # the real user still gets in: trusted pair
    assert not throttle.allowed("bob", OFFICE)  # never seen here: the ceiling applies
    assert throttle.retry_after("bob", OFFICE) == pytest.approx(300)
    clock.now += 301
    assert login(throttle, "bob", OFFICE)


def test_guessing_a_users_password_from_outside_does_not_lock_them_out_at_work() -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 50, 300, clock=clock)
    assert login(throttle, "alice", OFFICE)
    fail(throttle, "alice", ELSEWHERE, 5)
    assert not throttle.allowed("alice", ELSEWHERE)  # the guesser is stopped
    assert not throttle.allowed("alice", "192.0.2.44")  # from any other new address too
    assert login(throttle, "alice", OFFICE)  # alice at the office is not


def test_a_guesser_inside_the_nat_gets_no_more_than_the_per_user_limit() -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 50, 300, clock=clock)
    assert login(throttle, "alice", OFFICE)
    fail(throttle, "alice", OFFICE, 5)  # trusted pair, but its own failures count
    assert not throttle.allowed("alice", OFFICE)
    clock.now += 301
    assert throttle.allowed("alice", OFFICE)


def test_successes_are_not_counted_and_trust_expires() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, 3, 300, trusted_s=3600, clock=clock)
    for _ in range(10):
        assert login(throttle, "alice", OFFICE)
    assert throttle.trusted("alice", OFFICE)
    clock.now += 3601
    assert not throttle.trusted("alice", OFFICE)


def test_refusal_log_is_bounded_and_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = BoundedLog(logging.getLogger("test.bounded"), interval_s=10, clock=clock)
    with caplog.at_level(logging.WARNING, "test.bounded"):
        written = [log.warning("sockets", "socket refused for %s", f"u{i}") for i in range(100)]
        assert log.warning("login", "login throttled for %s", "x")  # another key: its own budget
        clock.now += 10
        assert log.warning("sockets", "socket refused for %s", "u100")
    assert written.count(True) == 1
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["socket refused for u0", "login throttled for x",
                     "socket refused for u100 (99 more like this not logged)"]
