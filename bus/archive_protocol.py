"""The archive queries on the bus: what a gateway asks the analytics process, and the answers.

    gateway (bus.remote_archive) ── request evs.archive  ArchiveQuery ──► analytics
                                                          (bus.archive_service, queue "analytics")
                                 ◄── ArchiveAnswer (JSON rows, or an error with its kind) ──

One query struct per method of `gateway.archive.CallArchive` and `gateway.stats_page.StatsSource`
(the methods of `analytics.reader.AnalyticsReader` the gateway uses):

| method                                  | query          | result type                |
|-----------------------------------------|----------------|----------------------------|
| calls_for_agent(agent_id, day, ...)     | CallsForAgent  | list[stats.CallHistoryItem]|
| recordings(agent_id=, start=, ...)      | Recordings     | list[stats.RecordingItem]  |
| dashboard(flt)                          | DashboardQuery | dashboard.Dashboard        |
| export_calls(out, fmt, flt, max_rows)   | ExportCalls    | ExportResult               |

The answer, `ArchiveAnswer`, has `bus.protocol.ArchiveReply`'s fields (`result`, `error`) plus
the error's kind; it is its own struct because ArchiveReply's `msgspec.Raw | None` cannot be
decoded (msgspec reads a Raw inside an Optional as `null` only). With the kind, the gateway
raises what the reader would have raised in-process: `StatsError` for a query that cannot be answered as asked (the page shows
it), `ExportTooLarge(rows, limit)` for an export over the caller's limit, and
`ArchiveUnavailable` for anything else (the service failed, or did not answer in time).

An export travels in the answer itself when its file is at most `INLINE_EXPORT_MAX` bytes
(base64 in the JSON, under NATS' default 1 MiB payload); a bigger one is put in the JetStream
object store bucket `EXPORTS_BUCKET` (chunked by the object store, kept `EXPORT_TTL_S` at
most) under a fresh name the answer gives; the gateway reads it into its file and deletes it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError

from analytics.dashboard import Dashboard, StatsFilter
from analytics.stats import CallHistoryItem, RecordingItem, StatsError
from analytics.stats_export import ExportTooLarge
from bus.protocol import ARCHIVE_QUEUE, ARCHIVE_SUBJECT

__all__ = [
    "ARCHIVE_QUEUE",
    "ARCHIVE_SUBJECT",
    "EXPORTS_BUCKET",
    "ArchiveAnswer",
    "ArchiveQuery",
    "ArchiveUnavailable",
    "CallsForAgent",
    "DashboardQuery",
    "ExportCalls",
    "ExportResult",
    "Recordings",
]

EXPORTS_BUCKET = "evs-exports"
EXPORT_TTL_S = 600.0  # an export not fetched by then is dropped by JetStream
INLINE_EXPORT_MAX = 512 * 1024  # bytes; base64 makes it ~683 KiB, under the 1 MiB payload
QUERY_TIMEOUT_S = 10.0  # history, recordings, dashboard: milliseconds to a second measured
EXPORT_TIMEOUT_S = 120.0  # a 500,000-row export is written by DuckDB COPY in seconds


# -- queries ---------------------------------------------------------------------------------


class CallsForAgent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    agent_id: str
    day: dt.date
    limit: int = 500
    tz: str | None = None


class Recordings(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A date bound means that day's midnight (as the reader reads it); naive UTC."""

    agent_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    outcome: str | None = None
    limit: int = 200
    offset: int = 0


class DashboardQuery(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    filter: StatsFilter


class ExportCalls(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    fmt: str  # "csv" or "parquet"
    filter: StatsFilter
    max_rows: int | None = None


ArchiveQuery = CallsForAgent | Recordings | DashboardQuery | ExportCalls


class ExportResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The exported file: inline (`data`), or object `name` of EXPORTS_BUCKET."""

    rows: int
    size: int  # bytes of the file
    data: bytes | None = None
    bucket: str = ""
    name: str = ""


RESULT_TYPES: dict[type[Any], Any] = {
    CallsForAgent: list[CallHistoryItem],
    Recordings: list[RecordingItem],
    DashboardQuery: Dashboard,
    ExportCalls: ExportResult,
}


# -- answer ----------------------------------------------------------------------------------

NO_RESULT = msgspec.Raw(b"null")
KIND_STATS = "stats"  # StatsError: the query cannot be answered as asked
KIND_TOO_LARGE = "export_too_large"  # ExportTooLarge(rows, limit)
KIND_BAD_QUERY = "bad_query"  # the request did not decode as an ArchiveQuery
KIND_INTERNAL = "internal"  # the service failed (DuckDB, object store...): logged there


class ArchiveAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The result (msgspec JSON of what the reader method returned), or an error: its text,
    and what the gateway needs to raise the reader's own exception."""

    result: msgspec.Raw = NO_RESULT
    error: str = ""
    error_kind: str = ""
    rows: int = 0  # export_too_large: the calls selected
    limit: int = 0  # export_too_large: the caller's limit


class ArchiveUnavailable(RuntimeError):
    """The archive did not answer (no analytics process, timeout) or failed: the page says
    the statistics could not be computed."""


_encoder = msgspec.json.Encoder()
_query_decoder: msgspec.json.Decoder[ArchiveQuery] = msgspec.json.Decoder(ArchiveQuery)
_answer_decoder = msgspec.json.Decoder(ArchiveAnswer)
_result_decoders = {kind: msgspec.json.Decoder(t) for kind, t in RESULT_TYPES.items()}


def encode_query(query: ArchiveQuery) -> bytes:
    return _encoder.encode(query)


def decode_query(payload: bytes) -> ArchiveQuery:
    """Raises msgspec.DecodeError / ValidationError for a payload that is no query."""
    return _query_decoder.decode(payload)


def recordings_query(
    *,
    agent_id: str | None = None,
    start: dt.datetime | dt.date | None = None,
    end: dt.datetime | dt.date | None = None,
    outcome: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Recordings:
    """`CallArchive.recordings`' arguments as a query (a date becomes its midnight)."""

    def moment(value: dt.datetime | dt.date | None) -> dt.datetime | None:
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.combine(value, dt.time())

    return Recordings(agent_id=agent_id, start=moment(start), end=moment(end),
                      outcome=None if outcome is None else str(outcome), limit=limit,
                      offset=offset)


def answer(result: Any) -> bytes:
    """The service's successful answer: `result` is what the reader method returned."""
    return _encoder.encode(ArchiveAnswer(result=msgspec.Raw(_encoder.encode(result))))


def failure(exc: BaseException) -> bytes:
    """The service's answer for a query that raised `exc`."""
    if isinstance(exc, ExportTooLarge):
        reply = ArchiveAnswer(error=str(exc), error_kind=KIND_TOO_LARGE, rows=exc.rows,
                              limit=exc.limit)
    elif isinstance(exc, StatsError):
        reply = ArchiveAnswer(error=str(exc), error_kind=KIND_STATS)
    elif isinstance(exc, (msgspec.DecodeError, msgspec.ValidationError)):
        reply = ArchiveAnswer(error=f"not an archive query: {exc}", error_kind=KIND_BAD_QUERY)
    else:
        reply = ArchiveAnswer(error=f"{type(exc).__name__}: {exc}", error_kind=KIND_INTERNAL)
    return _encoder.encode(reply)


def decode_answer(query: ArchiveQuery, payload: bytes) -> Any:
    """The gateway's side: the typed result of `query` (RESULT_TYPES), or the exception the
    reader would have raised in-process (StatsError, ExportTooLarge), or ArchiveUnavailable."""
    try:
        reply = _answer_decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ArchiveUnavailable(f"the archive answered something unreadable: {exc}") from exc
    if reply.error or reply.error_kind:
        if reply.error_kind == KIND_TOO_LARGE:
            raise ExportTooLarge(reply.rows, reply.limit)
        if reply.error_kind == KIND_STATS:
            raise StatsError(reply.error)
        raise ArchiveUnavailable(reply.error or reply.error_kind)
    if bytes(reply.result) == bytes(NO_RESULT):
        raise ArchiveUnavailable("the archive answered without a result")
    try:
        return _result_decoders[type(query)].decode(reply.result)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ArchiveUnavailable(f"the archive's result does not read as expected: {exc}") from exc


# -- an export's file (both sides share the bucket's handling) ------------------------------


async def ensure_exports_bucket(js: JetStreamContext, replicas: int = 1) -> None:
    """The analytics process creates the exports bucket at start (left as it is if there)."""
    try:
        await js.object_store(EXPORTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        await js.create_object_store(
            EXPORTS_BUCKET,
            ObjectStoreConfig(ttl=EXPORT_TTL_S, storage=StorageType.FILE, replicas=replicas,
                              description="evscallpro statistics exports, fetched once"),
        )


async def export_result(js: JetStreamContext, rows: int, path: Path) -> ExportResult:
    """The service's side: the exported file inline, or put in the exports bucket."""
    size = path.stat().st_size
    if size <= INLINE_EXPORT_MAX:
        return ExportResult(rows=rows, size=size, data=path.read_bytes())
    name = f"export-{uuid.uuid4().hex}{path.suffix}"
    store = await js.object_store(EXPORTS_BUCKET)
    with path.open("rb") as data:
        await store.put(name, data)
    return ExportResult(rows=rows, size=size, bucket=EXPORTS_BUCKET, name=name)


async def save_export(js: JetStreamContext, result: ExportResult, out: Path) -> int:
    """The gateway's side: the exported file written to `out` (read from the bucket, then
    deleted there); returns the rows, as `StatsSource.export_calls` does."""
    if result.data is not None:
        out.write_bytes(result.data)
        return result.rows
    store = await js.object_store(result.bucket or EXPORTS_BUCKET)
    try:
        with out.open("wb") as target:
            await store.get(result.name, writeinto=target)
    except (NotFoundError, BucketNotFoundError) as exc:
        raise ArchiveUnavailable(f"export {result.name} is no longer in the bucket") from exc
    await store.delete(result.name)
    if out.stat().st_size != result.size:
        raise ArchiveUnavailable(
            f"export {result.name}: {out.stat().st_size} bytes read, {result.size} expected"
        )
    return result.rows
