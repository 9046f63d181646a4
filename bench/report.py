"""Tables as Markdown: printed as they complete and written to RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure import Summary


@dataclass
class Check:
    """One target from the issue, as measured in this run."""

    target: str
    measured: str
    ok: bool

    def line(self) -> str:
        return f"- {'met' if self.ok else '**missed**'}: {self.target} (measured: {self.measured})"


@dataclass
class Table:
    title: str
    how: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    tally: Summary | None = None  # Tally's figures, for checks that compare workloads
    http: Summary | None = None  # the same, over HTTP
    seconds: float | None = None  # how long the workload took, setup included

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", self.how, ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(self.headers))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        if self.checks:
            lines += ["", *(check.line() for check in self.checks)]
        if self.seconds is not None:
            lines += ["", f"_This workload took {self.seconds:.0f} s, setup included._"]
        return "\n".join(lines) + "\n"


THROUGHPUT_HEADERS = [
    "system", "transfers/s", "p50 ms", "p99 ms", "peak RSS MB", "errors", "rejected", "Tally ÷ this",
    "Tally over HTTP ÷ this",
]  # fmt: skip


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def ratio(mine: Summary | None, theirs: Summary) -> str:
    """My rate over theirs, as "1.23x"; "—" against myself or without a figure."""
    if mine is None or mine is theirs or not theirs.per_second:
        return "—"
    return f"{mine.per_second / theirs.per_second:.2f}x"


def throughput_row(name: str, summary: Summary, tally: Summary | None, http: Summary | None = None) -> list[str]:
    errors = str(summary.errors)
    if summary.error_kinds:
        errors += " (" + ", ".join(f"{kind} {count}" for kind, count in sorted(summary.error_kinds.items())) + ")"
    return [
        name,
        number(summary.per_second),
        number(summary.p50_ms),
        number(summary.p99_ms),
        f"{summary.peak_mb:.0f}",
        errors,
        str(summary.rejected),
        ratio(tally, summary),
        ratio(http, summary),
    ]
