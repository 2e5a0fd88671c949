"""When a failed ARI request is sent again: one policy for every machine.

Tearing down is idempotent and must happen: a hang-up (`DELETE /channels/{id}`) or a bridge
deletion (`DELETE /bridges/{id}`) that fails with a server error (5xx) or gets no answer
(status 0) is sent again after a back-off, until Asterisk answers 2xx (then the machine waits
for ChannelDestroyed / BridgeDestroyed) or 404 (already gone). Nothing else is retried here:
an originate or an addChannel sent twice would act twice, so the machine decides.

The ARI port applies it to every command it sends, so each machine (call, agent, supervision,
bridge) gets it without code of its own; the last failure after `delays_s` is told to the
machine as usual.
"""

from __future__ import annotations

import msgspec

from core.ari_commands import AriCommand, DestroyBridge, HangupChannel


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    # Waits before each new attempt; about a minute in all, then the failure is told.
    delays_s: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.delays_s):
            raise ValueError(f"retry delays must be >= 0 s, got {self.delays_s}")

    def wait_before(self, failures: int) -> float | None:
        """The wait before attempt `failures + 1`, or None: give up and tell the failure."""
        if 1 <= failures <= len(self.delays_s):
            return self.delays_s[failures - 1]
        return None


NO_RETRY = RetryPolicy(delays_s=())


def is_retryable(command: AriCommand, status: int) -> bool:
    """A teardown request that failed on the server side or got no answer."""
    return isinstance(command, HangupChannel | DestroyBridge) and (status == 0 or status >= 500)
