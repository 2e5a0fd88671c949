"""The do-not-call (opposition, Bloctel-style) list in the data folder, and its CLI import.

  evscallpro import-do-not-call FILE.csv [--data-dir data] [--region FR] [--replace]

The list lives in `data_dir/do-not-call.txt`, one E.164 number a line (written atomically,
mode 0644). `DoNotCallFile` is what the core's agents check (`core.do_not_call.
DoNotCallCheck`): it re-reads the file when its modification time changes, so an import
while the product runs applies to the next call without a restart. Every number it reports
listed is a call refused before dialing: it counts them in
`evscallpro_do_not_call_refused_total`.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

import msgspec
from prometheus_client import Counter

from core.phone import NumberProblem, normalize

log = logging.getLogger(__name__)

FILE_NAME = "do-not-call.txt"
PHONE_COLUMNS = ("phone", "téléphone", "telephone", "numero", "numéro", "number", "tel")

REFUSED = Counter(
    "evscallpro_do_not_call_refused_total",
    "Calls refused before dialing because the number is on the do-not-call list.",
)


def list_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def read_numbers(path: Path) -> frozenset[str]:
    """The numbers in a list file (missing file: none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def write_numbers(path: Path, numbers: frozenset[str] | set[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".do-not-call.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# EVSCallPro do-not-call list: one E.164 number a line\n")
        handle.writelines(f"{n}\n" for n in sorted(numbers))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class DoNotCallFile:
    """The list file as the agents' dialing gate reads it (thread-safe, reloads on change)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._numbers: frozenset[str] = frozenset()

    def _current(self) -> frozenset[str]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return frozenset()
        with self._lock:
            if mtime != self._mtime:
                self._numbers = read_numbers(self.path)
                self._mtime = mtime
                log.info("do-not-call list: %d number(s) from %s", len(self._numbers), self.path)
            return self._numbers

    def listed(self, e164: str) -> bool:
        found = e164 in self._current()
        if found:
            REFUSED.inc()
            log.info("call to %s refused: on the do-not-call list", e164)
        return found


def do_not_call_file(path: str) -> DoNotCallFile | None:
    return DoNotCallFile(Path(path)) if path else None


class Rejected(msgspec.Struct, frozen=True):
    line: int
    reason: str


class ImportReport(msgspec.Struct, frozen=True):
    added: int
    total: int
    rejected: list[Rejected]


def import_csv(text: str, region: str, existing: frozenset[str] = frozenset()) -> tuple[frozenset[str], ImportReport]:
    """Numbers from a CSV (a header naming a phone column, or one number a line), merged
    into `existing`. Rows whose number does not parse are reported, never dropped silently."""
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    column = 0
    start = 0
    if rows:
        header = [cell.strip().casefold() for cell in rows[0]]
        named = [i for i, cell in enumerate(header) if cell in PHONE_COLUMNS]
        if named:
            column, start = named[0], 1
    numbers = set(existing)
    rejected: list[Rejected] = []
    for index, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        raw = row[column] if column < len(row) else ""
        checked = normalize(raw, region)
        if isinstance(checked, NumberProblem):
            rejected.append(Rejected(index, checked.detail))
            continue
        numbers.add(checked)
    result = frozenset(numbers)
    return result, ImportReport(added=len(result - existing), total=len(result), rejected=rejected)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import-do-not-call", help="import a do-not-call (opposition) list from a CSV file"
    )
    p.add_argument("file", help="CSV with a phone/téléphone column, or one number a line")
    p.add_argument("--data-dir", default="data", help=f"where {FILE_NAME} lives (default: data)")
    p.add_argument("--region", default="FR", help="region for numbers without + (default: FR)")
    p.add_argument("--replace", action="store_true", help="replace the list instead of adding")
    p.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    path = list_path(args.data_dir)
    existing = frozenset() if args.replace else read_numbers(path)
    numbers, report = import_csv(text, args.region, existing)
    write_numbers(path, numbers)
    print(f"do-not-call list {path}: {report.added} number(s) added, {report.total} in all; "
          f"rejected {len(report.rejected)} row(s)")
    for row in report.rejected:
        print(f"  line {row.line}: {row.reason}", file=sys.stderr)
    return 0 if report.total or not report.rejected else 1
