"""Benchmarks: Tally against the ledgers people write by hand, on the same database.

Run with `python -m bench` (or `make bench`); see `bench/RESULTS.md` for the
last results and `python -m bench --help` for the knobs.
"""
