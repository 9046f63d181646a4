# ruff: noqa: A005 - tests.http mirrors tally.http; it never shadows the standard library
