"""The bench's AWS: moto as a server in a process of its own, counting every call by service and action.

``python -m tools.bench.server --port 5123`` serves moto on 127.0.0.1 like ``moto_server`` does, with a thin WSGI
layer in front of it that

- counts each request as ``service:Action`` (the SigV4 credential scope names the service; the action comes from
  the query protocol's ``Action``, the JSON protocols' ``X-Amz-Target`` or the CBOR protocol's path), so call counts
  are the server's, whoever the client is (us or Cloud Custodian);
- waits a fixed latency before answering (``POST /_bench/latency {"ms": 50}``), as AWS's own round trip would, on a
  threaded server so concurrent clients overlap as they would against AWS;
- reports its own CPU (``GET /_bench/calls``), so that the mock's work is never counted as ours;
- seeds a target's estate inside its own process (``POST /_bench/seed``, :mod:`tools.bench.estate`: the API cannot
  backdate or set ``aws:`` tags) and reads a target's state back without counting calls (``POST /_bench/state``).

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
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
CBOR_OPERATION = re.compile(r"/service/[^/]+/operation/([^/?]+)")
StartResponse = Callable[..., Any]
REQUEST_LIMIT_EXCEEDED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>bench-throttle</RequestID></Response>"
)
RECYCLE_BIN_RULES = (("EBS_VOLUME", 7), ("EBS_SNAPSHOT", 30))  # finops.yaml's recycle_bin_rules


class Bench:
    """The counters, the latency and the control endpoints, around moto's WSGI application ``app``."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        from tools.sim.rbin import RecycleBin

        self.app = app
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.latency = 0.0
        self.lock = threading.Lock()
        self.buckets: Throttle | None = None  # POST /_bench/throttle {"ec2": true}: EC2's request token buckets
        self.recycle_bin = RecycleBin()  # moto has none: rules are added when a target is seeded

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self.control(path, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        called = operation(environ, body)
        with self.lock:
            self.calls[called] += 1
        if self.latency:
            time.sleep(self.latency)
        if self.buckets is not None and called.startswith("ec2:") and not self.buckets.take(environ, called):
            with self.lock:
                self.throttled[called] += 1
            start_response("503 Service Unavailable", [("Content-Type", "text/xml")])
            return [REQUEST_LIMIT_EXCEEDED]
        if called.startswith("rbin:"):
            return self.rbin(environ, body, start_response)
        if called == "ce:ListCostAllocationTags":  # moto answers 500 (not implemented): none activated, as AWS says
            start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
            return [b'{"CostAllocationTags": []}']
        return self.app(environ, start_response)

    def rbin(self, environ: dict[str, Any], body: bytes, start_response: StartResponse) -> Iterable[bytes]:
        """The Recycle Bin moto lacks, from tools.sim.rbin: ListRules and GetRule of the rules seeded per target."""
        from tools.sim._moto_internals import Incoming, account_of

        incoming = Incoming(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", ""),
            body=body,
            account_id=account_of({"Authorization": environ.get("HTTP_AUTHORIZATION", "")}),
            region=signed(environ, "region") or "us-east-1",
        )
        status, headers, text = self.recycle_bin.answer(incoming)
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [text.encode()]

    def control(self, path: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if path == "/_bench/calls":
            with self.lock:
                answer: Any = {
                    "calls": dict(self.calls),
                    "throttled": dict(self.throttled),
                    "server_cpu_seconds": time.process_time(),
                }
        elif path == "/_bench/reset":
            from moto.moto_api._internal.models import moto_api_backend

            from tools.sim.rbin import RecycleBin

            moto_api_backend.reset()  # what moto's own POST /moto-api/reset does
            with self.lock:
                self.calls.clear()
                self.throttled.clear()
                self.recycle_bin = RecycleBin()
                if self.buckets is not None:
                    self.buckets = Throttle()
            answer = {"reset": True}
        elif path == "/_bench/clear-calls":
            with self.lock:
                self.calls.clear()
                self.throttled.clear()
            answer = {"cleared": True}
        elif path == "/_bench/throttle":  # {"ec2": true}: EC2's documented request token buckets, per key and region
            self.buckets = Throttle() if data.get("ec2") else None
            answer = {"ec2": self.buckets is not None}
        elif path == "/_bench/seed":  # {"targets": [{"account", "region", "resources"}]} -> the truth of each
            from tools.bench.estate import seed_target
            from tools.sim.model import RecycleBinRule

            truths = []
            for t in data["targets"]:
                truths.append(seed_target(t["account"], t["region"], int(t["resources"])).to_json())
                for kind, days in RECYCLE_BIN_RULES:  # the shipped recycle_bin_rules, as the regional StackSet has
                    rule = RecycleBinRule(resource_type=kind, retention_days=days)
                    self.recycle_bin.add(t["account"], t["region"], rule)
            answer = {"truth": truths}
        elif path == "/_bench/state":  # {"account", "region"} -> what exists there, read without counting a call
            from tools.bench.estate import state

            answer = state(data["account"], data["region"])
        elif path == "/_bench/advance":  # {"account", "region", "days"}: let time pass there (the marks age too)
            from tools.bench.estate import advance

            answer = {"marks_moved": advance(data["account"], data["region"], float(data["days"]))}
        elif path == "/_bench/latency":
            self.latency = float(data.get("ms", 0)) / 1000
            answer = {"latency_ms": self.latency * 1000}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"no bench endpoint {path}"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


class Throttle:
    """EC2's request rate limiting as the bench's AWS: a token bucket per access key, region and action (the key
    stands for the account: each tool signs one account's calls with one key), of the size and refill rate the EC2
    throttling page documents (:data:`finops.aws.rate.EC2_RATES`, sourced there), the non-mutating default for the
    other ``Describe*`` actions, and 100 at 5 a second assumed for any other mutating action. A call that finds its
    bucket empty gets ``RequestLimitExceeded`` (503), as on AWS: it is counted as a call, and what a client does
    next (back off, retry) is the client's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.levels: dict[tuple[str, str, str], tuple[float, float]] = {}  # -> (tokens, when)
        self.lock = threading.Lock()

    def take(self, environ: dict[str, Any], called: str) -> bool:
        from finops.aws.rate import EC2_RATES, Rate

        action = called.split(":", 1)[1]
        # Describe*: the page's non-mutating bucket (100, 20 a second); another mutating action the bench's tools
        # call (StopInstances, StartInstances) is given 100 at 5 a second, like the documented per-resource ones
        rate = EC2_RATES.get(action) or (Rate(100, 20) if action.startswith("Describe") else Rate(100, 5))
        key = (signed(environ, "key"), signed(environ, "region"), action)
        now = self.clock()
        with self.lock:
            tokens, when = self.levels.get(key, (rate.capacity, now))
            tokens = min(rate.capacity, tokens + (now - when) * rate.per_second)
            if tokens < 1:
                self.levels[key] = (tokens, now)
                return False
            self.levels[key] = (tokens - 1, now)
            return True


def signed(environ: dict[str, Any], part: str) -> str:
    """``key``, ``region`` or ``service`` of a request's SigV4 credential ("" when it is not signed)."""
    credential = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return credential.group(part) if credential else ""


def operation(environ: dict[str, Any], body: bytes) -> str:
    """``service:Action`` of one AWS request, as the server sees it."""
    service = signed(environ, "service") or "unsigned"
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


def fast_tag_lookup() -> None:
    """Make moto's per-resource tag lookup a dict lookup. moto 5.2.5 reads one EC2 resource's tags by filtering every
    tag of the region (``TaggedEC2Resource.get_tags`` -> ``describe_tags(filters={"resource-id": [id]})``), so a
    DescribeVolumes of 9,000 volumes scans 9,000 x 60,000 tags and takes minutes: the mock, not the client, would be
    what the bench measures past a few thousand resources. The answer is the same (the filter is an exact match of
    the id; ``tests/tools/test_bench_server.py`` compares the two), for every client alike."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self: Any) -> list[dict[str, str]]:
        if not self.id:
            return []
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        tags = self.ec2_backend.tags.get(self.id, {})  # a defaultdict: .get creates nothing
        return [{"resource_id": self.id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]

    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]


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

    fast_tag_lookup()
    app = DomainDispatcherApplication(create_backend_app)
    print(f"bench moto server on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    run_simple("127.0.0.1", args.port, Bench(app), threaded=True, request_handler=Quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
