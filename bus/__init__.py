"""The message bus between EVSCallPro's processes: NATS with JetStream.

`bus.server` starts a local nats-server (the embedded mode of `serve` / `make demo`, and the
multi-server clusters of the tests); `bus.records` carries call records and agent-state
intervals to the one DuckDB writer, exactly once end to end.
"""
