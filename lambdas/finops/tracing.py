"""Powertools' Tracer, made on a handler's first invocation instead of when Lambda imports the handler.

Making a ``Tracer`` imports the X-Ray SDK (and with it botocore's session, wrapt and asyncio) and patches every
library the SDK supports: on the bench machine about half a second, more than everything else a handler module
imports (``python -m tools.bench.imports``). A handler needs its tracer only once it runs, so
``@tracer.capture_lambda_handler`` on a :class:`LazyTracer` makes the Tracer on the first call, before the handler
runs, and wraps the handler with Powertools' own decorator: the same segment, ColdStart and Service annotations,
response and error metadata, and the same patched libraries (patching reaches modules imported before it, so every
AWS and Slack call of the invocation is a subsegment, as before). The cost moves from the init phase to the first
invocation; warm invocations do not pay it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])


class LazyTracer:
    """Stands in for ``Tracer()`` at a handler module's top level; ``tracer`` is the Powertools Tracer itself."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    @property
    def tracer(self) -> Tracer:
        """The Powertools Tracer, made (and the SDK's patches applied) on first use."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        """Powertools' ``capture_lambda_handler`` around ``handler``, applied on its first call."""
        traced: Callable[..., Any] | None = None

        @functools.wraps(handler)
        def first_call_traces(event: Any, context: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = self.tracer.capture_lambda_handler(handler)
            return traced(event, context)

        return cast(Handler, first_call_traces)
