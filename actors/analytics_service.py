"""AnalyticsService: what a composition root adds to a core to store records and feed metrics.

It lives with the actors because it starts one (the AnalyticsWriter): records flow down from
the actors to analytics/ (rows, journal, DuckDB store, metrics), and analytics/ never imports
the actor layer.

    analytics = AnalyticsService(WriterConfig(db_path="data/evscallpro.duckdb"))
    analytics.start()
    app = CallCenterApp(config, sink=FanOutSink(..., analytics.sink))
    analytics.attach(app)            # views -> agent state intervals + agent/call gauges
    ...
    app.stop(); analytics.stop()     # the core first: its last records reach the writer

`sink` takes CallRecords and Dispositions (tell() to the AnalyticsWriter; a CallRecord also
counts in evscallpro_calls_total and the setup/talk histograms). `reader` answers the UI's
statistics in this process (see analytics.reader).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from actors.analytics_writer import (
    AnalyticsWriter,
    AnalyticsWriterRef,
    AnalyticsWriterSink,
    WriterConfig,
)
from analytics import metrics
from analytics.reader import AnalyticsReader
from core.records import CallRecord
from core.views import AgentView, CallView

log = logging.getLogger(__name__)


class Subscribable(Protocol):
    def subscribe(self, listener: Callable[[AgentView | CallView], None]) -> Callable[[], None]: ...


class _Sink:
    def __init__(self, writer: AnalyticsWriterSink) -> None:
        self._writer = writer

    def write(self, record: object) -> None:
        self._writer.write(record)
        if isinstance(record, CallRecord):
            metrics.record_call_ended(record)


class AnalyticsService:
    def __init__(self, config: WriterConfig | None = None) -> None:
        self.config = config or WriterConfig()
        self.writer: AnalyticsWriterRef | None = None
        self.view_metrics = metrics.ViewMetrics()
        self.reader = AnalyticsReader(self.config.db_path)
        self._writer_sink: AnalyticsWriterSink | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        self.writer = AnalyticsWriter.start(self.config)
        self._writer_sink = AnalyticsWriterSink(self.writer)

    @property
    def sink(self) -> _Sink:
        if self._writer_sink is None:
            raise RuntimeError("AnalyticsService.start() first")
        return _Sink(self._writer_sink)

    def on_view(self, view: AgentView | CallView) -> None:
        if self._writer_sink is not None:
            self._writer_sink.on_view(view)
        self.view_metrics.on_view(view)

    def attach(self, app: Subscribable) -> None:
        self._unsubscribe.append(app.subscribe(self.on_view))

    def stop(self, timeout: float = 30.0) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self.writer is not None:
            self.writer.stop(timeout=timeout)
            self.writer = None
        self.reader.close()
