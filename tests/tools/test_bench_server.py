"""The bench's moto server counts every call by service and action, whoever makes it, and injects latency."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import boto3
import pytest

from tools.bench.server import operation

ROOT = Path(__file__).parents[2]
SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261202/eu-west-1/{service}/aws4_request, SignedHeaders=host"


def environ(service: str, **extra: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": SIGNED.format(service=service), "PATH_INFO": "/", **extra}


@pytest.mark.parametrize(
    ("env", "body", "expected"),
    [
        (environ("ec2"), b"Action=DescribeVolumes&Version=2016-11-15&MaxResults=500", "ec2:DescribeVolumes"),
        (environ("sts", QUERY_STRING="Action=GetCallerIdentity"), b"", "sts:GetCallerIdentity"),
        (environ("ssm", HTTP_X_AMZ_TARGET="AmazonSSM.GetParameter"), b"{}", "ssm:GetParameter"),
        (
            environ("monitoring", PATH_INFO="/service/GraniteServiceVersion20100801/operation/PutMetricData"),
            b"\xbf",
            "monitoring:PutMetricData",
        ),
        (
            environ("rbin", PATH_INFO="/list-rules", REQUEST_METHOD="POST"),
            b'{"ResourceType": "EBS_SNAPSHOT"}',
            "rbin:POST /list-rules",
        ),
        ({"PATH_INFO": "/"}, b"", "unsigned:GET /"),
    ],
)
def test_each_protocol_names_its_action(env, body, expected):
    assert operation(env, body) == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _control(endpoint: str, path: str, data: dict[str, object] | None = None) -> dict[str, object]:
    """A bench endpoint: GET without ``data``, POST with it."""
    connection = HTTPConnection(endpoint.removeprefix("http://"), timeout=10)
    try:
        connection.request("GET" if data is None else "POST", path, body=None if data is None else json.dumps(data))
        return dict(json.loads(connection.getresponse().read()))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.bench.server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _control(endpoint, "/_bench/calls")
                break
            except OSError:
                assert process.poll() is None, "the bench server exited"
                assert time.monotonic() < deadline, "the bench server did not answer within 30 s"
                time.sleep(0.2)
        yield endpoint
    finally:
        process.kill()
        process.wait(timeout=10)


def test_calls_are_counted_server_side_and_reset_with_the_estate(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ec2 = boto3.client("ec2", endpoint_url=server, region_name="eu-west-1")
    _control(server, "/_bench/reset", {})
    ec2.create_volume(AvailabilityZone="eu-west-1a", Size=8)
    ec2.describe_volumes()
    ec2.describe_volumes()

    counted = _control(server, "/_bench/calls")

    assert counted["calls"] == {"ec2:CreateVolume": 1, "ec2:DescribeVolumes": 2}
    assert counted["server_cpu_seconds"] > 0
    _control(server, "/_bench/reset", {})
    assert ec2.describe_volumes()["Volumes"] == []  # moto's state went with the counts


def test_latency_is_added_to_every_call(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ec2 = boto3.client("ec2", endpoint_url=server, region_name="eu-west-1")
    ec2.describe_volumes()  # connection and model loading out of the way
    try:
        _control(server, "/_bench/latency", {"ms": 200})
        started = time.perf_counter()
        ec2.describe_volumes()
        assert time.perf_counter() - started >= 0.2
    finally:
        _control(server, "/_bench/latency", {"ms": 0})
