"""The admin page: staff find an account, read why its balance is what it is, and adjust it with a reason.

Server-rendered (Jinja2, with htmx 2 vendored in `static/`, no build step), served
by `tally serve` at /admin over the same `tally.Ledger` as the HTTP API.

Choices the contract leaves open:
- Admin and staff keys sign in; writer and reader keys are refused. A key made
  with `--accounts PREFIX` sees and adjusts only accounts in its scope.
- Adjustments move money against `Settings.adjustments_account` when that
  account exists in the target's currency, otherwise against
  `{adjustments_account}:{CURRENCY}` (e.g. `@adjustments:USD`), opened on first
  use with no lower limit.
- Typed amounts with more decimals than the currency has are refused, trailing
  zeros included (`1.00` JPY): nothing is ever rounded.
- The id generated into a form is the transfer's id, so a resubmission replays
  the first outcome; after a rejection (which is recorded) the form comes back
  filled in with a fresh id.
"""

from tally.admin.routes import mount_admin

__all__ = ["mount_admin"]
