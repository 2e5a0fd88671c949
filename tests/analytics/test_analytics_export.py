"""COPY exports are readable files with the right rows; the CLI subcommands work end to end."""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from support.synthetic import dispositions_for, generate_calls

from analytics import cli, rows
from analytics.export import export
from analytics.stats import StatsError
from analytics.store import Batch, CallStore

START = datetime(2026, 5, 28).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "x.duckdb"
    records = list(generate_calls(48, start=START, spacing=3600.0))  # one per hour, two days
    store = CallStore(path)
    store.write(
        Batch(
            calls=[rows.call_row(r) for r in records],
            legs=[leg for r in records for leg in rows.leg_rows(r)],
            dispositions=[rows.disposition_row(d) for d in dispositions_for(records)],
        )
    )
    store.close()
    return path


def test_csv_export_of_one_day(db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    out = tmp_path / "day.csv"
    n = export(con, out, "csv", start=datetime(2026, 5, 29), end=datetime(2026, 5, 30))
    con.close()
    with out.open(newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert n == len(lines) == 24
    assert {line["started_at"][:10] for line in lines} == {"2026-05-29"}
    assert "disposition" in lines[0] and "talk_seconds" in lines[0]


def test_parquet_export_of_legs(db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    out = tmp_path / "legs.parquet"
    n = export(con, out, "parquet", table="legs")
    expected = con.execute("SELECT count(*) FROM call_legs").fetchall()[0][0]
    con.close()
    reader = duckdb.connect()
    got = reader.execute(f"SELECT count(*), count(DISTINCT role) FROM '{out}'").fetchall()
    assert n == expected == got[0][0]
    assert got[0][1] == 2


def test_export_refuses_bad_format_and_missing_directory(db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    with pytest.raises(StatsError):
        export(con, tmp_path / "x.xlsx", "xlsx")
    with pytest.raises(StatsError):
        export(con, tmp_path / "missing" / "x.csv", "csv")
    con.close()


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="evscallpro")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.handler(args)
    return result


def test_cli_export_and_stats(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "all.csv"
    assert _run("export", "--db", str(db), "--format", "csv", "--out", str(out)) == 0
    assert sum(1 for _ in out.open()) == 48 + 1  # header
    assert _run("stats", "--db", str(db), "--from", "2026-05-28", "--to", "2026-05-30") == 0
    text = capsys.readouterr().out
    assert "UTC: 48" in text and "Connect rate" in text and "p95" in text
    args = ("--from", "2026-05-28", "--to", "2026-05-29", "--agents", "--tz", "Europe/Paris")
    assert _run("stats", "--db", str(db), *args) == 0
    assert "2026-05-28 agent-000" in capsys.readouterr().out
    assert _run("stats", "--db", str(db), *args[:-1], "Nowhere/Land") == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_cli_reports_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("stats", "--db", str(tmp_path / "none.duckdb")) == 2
    assert "no analytics database" in capsys.readouterr().err
