"""The bench's AWS: moto as a server in a process of its own, counting every call by service and action.

``python -m tools.bench.server --port 5123`` serves moto on 127.0.0.1 like ``moto_server`` does, with a thin WSGI
layer in front of it that

- counts each request as ``service:Action`` (the SigV4 credential scope names the service; the action comes from
  the query protocol's ``Action``, the JSON protocols' ``X-Amz-Target`` or the CBOR protocol's path), so call counts
  are the server's, whoever the client is (us or Cloud Custodian);
- waits a fixed latency before answering (``POST /_bench/latency {"ms": 50}``), as AWS's own round trip would, on a
  threaded server so concurrent clients overlap as they would against AWS;
- reports its own CPU (``GET /_bench/calls``), so that the mock's work is never counted as ours.

Nothing here listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
CBOR_OPERATION = re.compile(r"/service/[^/]+/operation/([^/?]+)")
StartResponse = Callable[..., Any]


class Bench:
    """The counters, the latency and the control endpoints, around moto's WSGI application ``app``."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self.latency = 0.0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self.control(path, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if not path.startswith("/moto-api"):
            with self.lock:
                self.calls[operation(environ, body)] += 1
            if self.latency:
                time.sleep(self.latency)
        return self.app(environ, start_response)

    def control(self, path: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if path == "/_bench/calls":
            with self.lock:
                answer: Any = {"calls": dict(self.calls), "server_cpu_seconds": time.process_time()}
        elif path == "/_bench/reset":
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()  # what moto's own POST /moto-api/reset does
            with self.lock:
                self.calls.clear()
            answer = {"reset": True}
        elif path == "/_bench/clear-calls":
            with self.lock:
                self.calls.clear()
            answer = {"cleared": True}
        elif path == "/_bench/latency":
            self.latency = float(data.get("ms", 0)) / 1000
            answer = {"latency_ms": self.latency * 1000}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"no bench endpoint {path}"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


def operation(environ: dict[str, Any], body: bytes) -> str:
    """``service:Action`` of one AWS request, as the server sees it."""
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    path = environ.get("PATH_INFO", "")
    cbor = CBOR_OPERATION.search(path)
    if cbor:
        return f"{service}:{cbor.group(1)}"
    for source in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace") if body[:1] != b"{" else ""):
        action = parse_qs(source).get("Action")
        if action:
            return f"{service}:{action[0]}"
    first = path.strip("/").split("/", 1)[0]
    return f"{service}:{environ.get('REQUEST_METHOD', 'GET')} /{first}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class Quiet(WSGIRequestHandler):
        def log_request(self, *_: Any, **__: Any) -> None:  # one line per call would be most of the output
            pass

    app = DomainDispatcherApplication(create_backend_app)
    print(f"bench moto server on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    run_simple("127.0.0.1", args.port, Bench(app), threaded=True, request_handler=Quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
