"""The HTTP API: `create_app(settings)` and `serve(settings)`."""

from tally.http.app import create_app

__all__ = ["create_app"]
