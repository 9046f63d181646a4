"""The ledgers people write by hand, from their well-known descriptions.

Each is short on purpose: the point is to measure the approach, not to
improve it. All run on the same database, with the same durability settings,
in the same process as Tally.
"""

from bench.baselines.bare_insert import BareInsert
from bench.baselines.insert_then_check import InsertThenCheck
from bench.baselines.sum_of_history import SumOfHistory

BASELINES = (SumOfHistory, InsertThenCheck, BareInsert)

__all__ = ["BASELINES", "BareInsert", "InsertThenCheck", "SumOfHistory"]
