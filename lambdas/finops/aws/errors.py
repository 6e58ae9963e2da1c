"""How an AWS error reads in a result, a digest or an audit record: ``<Code>: <message>``."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_text(exc: Exception) -> str:
    """``<Code>: <message>`` for an API error; ``<exception type>: <message>`` for anything else (a timeout)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', str(exc))}"
    return f"{type(exc).__name__}: {exc}"
