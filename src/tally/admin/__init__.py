"""The admin page: staff find an account, read why its balance is what it is, and adjust it with a reason.

Server-rendered (Jinja2, with htmx vendored in `static/`), served by `tally serve`
at /admin over the same `tally.Ledger` as the HTTP API.
"""

from tally.admin.routes import mount_admin

__all__ = ["mount_admin"]
