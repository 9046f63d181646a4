"""`make run`: the worked example on ./tally.sqlite3 (serving HTTP comes with the API)."""

from __future__ import annotations

import argparse

from rich.console import Console

import tally
from tally.demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.parse_args()
    with tally.open("sqlite:///tally.sqlite3") as ledger:
        run_demo(ledger, Console())


if __name__ == "__main__":
    main()
