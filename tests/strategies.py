"""Hypothesis strategies shared by the property and stateful tests.

They lean on the edges: amounts of 0 and 2**63 (invalid), 1 and 2**63-1 (the
extremes that must work, and that drive balances into `overflow`), holds that
expire at once or never, accounts with and without bounds.
"""

from __future__ import annotations

from hypothesis import strategies as st

AMOUNT_MAX = 2**63 - 1

# Valid amounts, with the edges drawn far more often than chance would.
amounts = st.one_of(
    st.sampled_from([1, 2, 99, 100, 1_000, AMOUNT_MAX, AMOUNT_MAX - 1, AMOUNT_MAX - 1_000, 2**62]),
    st.integers(min_value=1, max_value=5_000),
)

# Mostly valid, sometimes just outside the range (a validation error).
amounts_with_edges = st.one_of(amounts, st.sampled_from([0, 2**63]))

# A partial post or a partial reversal: small, or the whole of any amount.
part_amounts = st.one_of(st.none(), st.sampled_from([1, 50, 1_000, AMOUNT_MAX]), st.integers(1, 3_000))

min_balances = st.sampled_from([0, 0, -500, None])
max_balances = st.sampled_from([None, None, 2_000, AMOUNT_MAX])
clearing_seconds = st.sampled_from([None, None, None, 30])
currencies = st.sampled_from(["USD", "USD", "USD", "EUR"])

expires_in = st.sampled_from([None, 1, 5, 60])
on_expiry = st.sampled_from([None, "void", "post"])
seconds = st.sampled_from([0, 1, 4, 5, 30, 61])
reasons = st.sampled_from([None, "coffee", "refund"])
