"""The pure domain of Tally: records, rules and result codes.

Nothing here performs I/O or imports from the rings around it (stores, engine,
HTTP, CLI). Everything can be tested without a database.
"""
