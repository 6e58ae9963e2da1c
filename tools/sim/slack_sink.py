"""A local Slack: an HTTP server on 127.0.0.1 that takes messages the way Slack does and records them.

It speaks both ways slack-sdk delivers a message:

- incoming webhooks: ``POST /services/T000/B000/<channel-slug>`` with a JSON body; answers 200 ``ok``. Get the URL
  for a channel from :meth:`SlackSink.webhook_url`; the sink remembers which channel that URL stands for.
- the Web API: ``POST /api/chat.postMessage`` (JSON or form-encoded, ``Authorization: Bearer <token>``); answers
  ``{"ok": true, "channel": ..., "ts": ...}``. Point ``WebClient(base_url=sink.api_url, token=sink.token)`` at it.

Faults are injected per request: :meth:`SlackSink.fail_next` answers the next requests with 429 (and
``Retry-After``) or 5xx; :meth:`SlackSink.go_down` answers 503 to everything until :meth:`SlackSink.come_back`.

    with SlackSink() as sink:
        WebhookClient(sink.webhook_url("#payments-oncall")).send(text="hello")
        assert sink.posts_to("#payments-oncall")[0].payload["text"] == "hello"
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs

Style = Literal["webhook", "api"]
_WEBHOOK_PATH = re.compile(r"^/services/[^/]+/[^/]+/[^/]+$")
_API_POST_MESSAGE = "/api/chat.postMessage"
LOCAL_TOKEN = "xoxb-local-sink"  # noqa: S105 - a fixed test token the local sink accepts; not a secret
_FORM_JSON_FIELDS = ("blocks", "attachments", "metadata")  # form posts carry these as JSON strings


@dataclass(frozen=True)
class Post:
    """A message the sink accepted."""

    channel: str
    payload: dict[str, Any]
    style: Style
    received_at: datetime


@dataclass(frozen=True)
class SinkRequest:
    """Any request the sink answered, accepted or not."""

    method: str
    path: str
    status: int
    body: bytes
    received_at: datetime
    retry_after: int | None = None  # the Retry-After the sink answered, if any


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    retry_after: int | None = None

    @classmethod
    def json(cls, status: int, data: dict[str, Any], retry_after: int | None = None) -> _Answer:
        return cls(status, json.dumps(data).encode(), "application/json; charset=utf-8", retry_after)

    @classmethod
    def text(cls, status: int, text: str, retry_after: int | None = None) -> _Answer:
        return cls(status, text.encode(), retry_after=retry_after)


def _slug(channel: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", channel.lower()).strip("-") or "channel"


class SlackSink:
    """The server, its records and its fault switches. All methods are safe to call from any thread."""

    def __init__(self, token: str = LOCAL_TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._requests: list[SinkRequest] = []
        self._faults: deque[_Fault] = deque()
        self._down = False
        self._webhooks: dict[str, str] = {}  # path -> channel
        self._refused: dict[str, str] = {}  # channel -> Slack's error for it
        self._refused_status: dict[str, int] = {}  # channel -> the HTTP status its webhook answers
        self._ts = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> SlackSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = sink._answer(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.retry_after is not None:
                    self.send_header("Retry-After", str(answer.retry_after))
                self.end_headers()
                self.wfile.write(answer.body)

            def do_GET(self) -> None:
                self.do_POST()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read sink.requests instead
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-sink", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sink is not running: use `with SlackSink() as sink:` or sink.start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``; ends with ``/api/`` as slack-sdk expects."""
        return f"{self.base_url}/api/"

    def webhook_url(self, channel: str) -> str:
        """An incoming-webhook URL that posts to ``channel`` (one URL per channel)."""
        path = f"/services/T000/B000/{_slug(channel)}"
        with self._lock:
            known = self._webhooks.setdefault(path, channel)
        if known != channel:
            raise ValueError(f"channels {known!r} and {channel!r} share the webhook path {path}")
        return self.base_url + path

    # -- records -----------------------------------------------------------------------------------------------------

    @property
    def posts(self) -> tuple[Post, ...]:
        with self._lock:
            return tuple(self._posts)

    @property
    def requests(self) -> tuple[SinkRequest, ...]:
        with self._lock:
            return tuple(self._requests)

    def posts_to(self, channel: str) -> list[Post]:
        return [post for post in self.posts if post.channel == channel]

    def clear(self) -> None:
        """Forget posts and requests (webhook URLs and fault switches stay)."""
        with self._lock:
            self._posts.clear()
            self._requests.clear()

    # -- faults ------------------------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int | None = 1) -> None:
        """Answer the next ``n`` requests with ``status`` (429s carry ``Retry-After: retry_after``)."""
        with self._lock:
            self._faults.extend([_Fault(status, retry_after if status == 429 else None)] * n)

    def refuse_channel(self, channel: str, error: str = "not_in_channel", *, webhook_status: int = 404) -> None:
        """From now on, refuse posts to ``channel`` for good, as Slack does when the bot is not in it
        (``not_in_channel``), it does not exist (``channel_not_found``) or it is archived (``is_archived``), or
        when the message itself is refused (``invalid_blocks``). Webhooks answer ``webhook_status`` with the error
        as the body (403 ``invalid_token`` for a revoked webhook)."""
        with self._lock:
            self._refused[channel] = error
            self._refused_status[channel] = webhook_status

    def accept_channel(self, channel: str) -> None:
        """Take posts to ``channel`` again (the bot was invited back)."""
        with self._lock:
            self._refused.pop(channel, None)
            self._refused_status.pop(channel, None)

    def go_down(self) -> None:
        """Answer every request 503 until :meth:`come_back` (queued ``fail_next`` faults wait until then)."""
        with self._lock:
            self._down = True

    def come_back(self) -> None:
        with self._lock:
            self._down = False

    # -- the protocol ------------------------------------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        with self._lock:
            answer = self._fault_answer(path) or self._accept(path, headers, body)
            received = SinkRequest(method, path, answer.status, body, datetime.now(UTC), answer.retry_after)
            self._requests.append(received)
            return answer

    def _fault_answer(self, path: str) -> _Answer | None:
        if self._down:
            return _Answer.text(503, "service unavailable")
        if not self._faults:
            return None
        fault = self._faults.popleft()
        is_api = path.startswith("/api/")
        if fault.status == 429:
            if is_api:
                return _Answer.json(429, {"ok": False, "error": "ratelimited"}, fault.retry_after)
            return _Answer.text(429, "rate_limited", fault.retry_after)
        if is_api:
            return _Answer.json(fault.status, {"ok": False, "error": "fatal_error"})
        return _Answer.text(fault.status, "internal server error")

    def _accept(self, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        if _WEBHOOK_PATH.match(path):
            return self._accept_webhook(path, body)
        if path == _API_POST_MESSAGE:
            return self._accept_api(headers, body)
        if path.startswith("/api/"):
            return _Answer.json(200, {"ok": False, "error": "unknown_method"})
        return _Answer.text(404, "not found")

    def _accept_webhook(self, path: str, body: bytes) -> _Answer:
        channel = self._webhooks.get(path)
        if channel is None:
            return _Answer.text(404, "no_service")
        if channel in self._refused:
            return _Answer.text(self._refused_status[channel], self._refused[channel])
        try:
            payload = json.loads(body)
        except ValueError:
            return _Answer.text(400, "invalid_payload")
        if not isinstance(payload, dict):
            return _Answer.text(400, "invalid_payload")
        if not any(payload.get(key) for key in ("text", "blocks", "attachments")):
            return _Answer.text(400, "no_text")
        self._posts.append(Post(channel, payload, "webhook", datetime.now(UTC)))
        return _Answer.text(200, "ok")

    def _accept_api(self, headers: dict[str, str], body: bytes) -> _Answer:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        payload = _parse_api_body(body, content_type)
        if payload is None:
            return _Answer.json(200, {"ok": False, "error": "invalid_json"})
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = authorization.removeprefix("Bearer ").strip() or str(payload.pop("token", ""))
        if token != self.token:
            return _Answer.json(200, {"ok": False, "error": "invalid_auth"})
        channel = payload.get("channel")
        if not channel:
            return _Answer.json(200, {"ok": False, "error": "channel_not_found"})
        if channel in self._refused:
            return _Answer.json(200, {"ok": False, "error": self._refused[channel]})
        if not any(payload.get(key) for key in ("text", "blocks", "attachments")):
            return _Answer.json(200, {"ok": False, "error": "no_text"})
        self._ts += 1
        ts = f"{int(time.time())}.{self._ts:06d}"
        self._posts.append(Post(str(channel), payload, "api", datetime.now(UTC)))
        return _Answer.json(200, {"ok": True, "channel": channel, "ts": ts, "message": payload})


def _parse_api_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    form: dict[str, Any] = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
    for key in _FORM_JSON_FIELDS:
        if isinstance(form.get(key), str):
            try:
                form[key] = json.loads(form[key])
            except ValueError:
                return None
    return form
