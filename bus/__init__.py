"""The message bus between EVSCallPro's processes: NATS with JetStream.

`bus.server` starts a local nats-server (one on loopback, or the multi-server clusters of the
tests); `bus.records` carries call records and agent-state intervals to the one DuckDB
writer, exactly once end to end. Not yet wired into `serve` / `make demo`: the product still
runs in one process with the in-process AnalyticsWriter and its journal.
"""
