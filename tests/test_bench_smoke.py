"""The benchmark suite still runs: every workload, on every store, at a tiny size.

No timing is asserted here (the benchmark reports its targets, it does not
gate the suite); what is checked is that each workload completes, writes its
table, and that Tally shows no invariant violation in workload 7.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.__main__ import main

from tests.services import missing

TINY = [
    "--seconds", "0.05", "--repeats", "1", "--accounts", "12", "--clients", "3", "--batch", "20",
    "--history-rows", "60", "--history-rows-small", "20", "--correctness-calls", "4", "--double-spend-rounds", "2",
    "--memory-seconds", "0.1",
]  # fmt: skip


def _run(tmp_path: Path, store: str) -> str:
    output = tmp_path / "RESULTS.md"
    assert main([*TINY, "--stores", store, "--output", str(output)]) == 0
    return output.read_text()


WORKLOADS = ("1. One client", "2. 3 clients, uniform", "3. 3 clients, one hot account", "4. Batches of 20",
             "5. Two-phase mix", "6. Balance read", "7. Correctness")  # fmt: skip


def _assert_every_table(report: str) -> None:
    for title in WORKLOADS:
        assert f"### {title}" in report
    assert report.count("_This workload took ") == len(WORKLOADS)
    assert "met: zero violations for Tally (" in report
    assert "met: zero violations for Tally over HTTP (" in report
    # Tally over HTTP ran every workload against a real `tally serve`, without one failed request.
    errors = _errors_of(report, "Tally over HTTP")
    assert len(errors) == 8 and set(errors) == {"0"}, errors  # workloads 1-5 and 7, two history sizes in 6


def _errors_of(report: str, system: str) -> list[str]:
    """The "errors" cell of each of `system`'s rows, read under its table's own header."""
    found, column = [], None
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "system":  # a table's header (the analysis's own tables have no errors column)
            column = cells.index("errors") if "errors" in cells else None
        elif cells[0] == system and column is not None:
            found.append(cells[column])
    return found


def test_every_workload_runs_on_sqlite_and_writes_its_table(tmp_path: Path) -> None:
    report = _run(tmp_path, "sqlite")
    _assert_every_table(report)
    assert "| Tally | 20 |" in report and "| Tally over HTTP | 60 |" in report and "| sum of history | 60 |" in report


@pytest.mark.postgres
def test_every_workload_runs_on_postgres_and_writes_its_table(tmp_path: Path, postgres_url: str) -> None:
    report = _run(tmp_path, "postgres")
    if "Not measured" in report:
        missing("PostgreSQL", report.split("Not measured: ", 1)[1].splitlines()[0])
    _assert_every_table(report)


def test_a_partial_run_is_printed_and_leaves_the_run_of_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.__main__ as entry

    record = tmp_path / "RESULTS.md"
    record.write_text("the run of record\n")
    monkeypatch.setattr(entry, "RESULTS", record)
    assert main([*TINY, "--stores", "sqlite", "--workloads", "1"]) == 0
    assert record.read_text() == "the run of record\n"
    printed = capsys.readouterr().out
    assert "### 1. One client" in printed and "_This workload took " in printed
    assert "(`make bench`)" not in printed  # only the full default run is `make bench`
    assert "Not written to RESULTS.md: a partial run" in printed


def test_the_memory_probe_waits_until_the_peak_stops_growing() -> None:
    from bench.serve_probe import SETTLED_MB, SETTLED_SECONDS, _settled

    growing = [(0.0, 70.0), (5.0, 75.0), (10.0, 80.0), (15.0, 85.0)]
    assert not _settled(growing)
    flat = [(0.0, 100.0), (5.0, 100.2), (SETTLED_SECONDS, 100.0 + SETTLED_MB / 2)]
    assert _settled(flat)
    assert not _settled(flat[:2])  # flat, but not for long enough yet


def test_the_durability_probe_times_every_system_synced_and_not(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import durability

    assert durability.main(["--transfers", "5", "--rounds", "2", "--accounts", "6"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split("|")[1].strip() for row in rows] == [
        "system",
        "Tally",
        "sum of history",
        "insert, then check",
        "bare insert",
    ]
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert all(float(cell.replace(",", "")) > 0 for cell in cells[1:3] + cells[4:6]), row
