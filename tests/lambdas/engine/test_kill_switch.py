"""The kill switch: "on" pauses, a missing parameter means no switch, an unreadable one pauses and says why."""

from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from finops.aws.clients import BOTO_CONFIG
from finops.engine.kill_switch import KillSwitch

NAME = "/finops/kill-switch"


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("ssm", config=BOTO_CONFIG)


def _answer(status: int, code: str):
    body = f'{{"__type": "{code}", "message": "{code} (injected)"}}'.encode()

    class Raw:
        def stream(self, **_):
            yield body

    return AWSResponse("https://ssm.us-east-1.amazonaws.com/", status, {"x-amzn-RequestId": "r"}, Raw())


@pytest.mark.parametrize(
    ("value", "engaged"),
    [("on", True), (" ON ", True), ("true", True), ("paused", True), ("off", False), ("", False), ("false", False)],
)
def test_any_value_but_an_explicit_off_engages_the_switch(ssm, value, engaged):
    ssm.put_parameter(Name=NAME, Value=value or " ", Type="String")

    state = KillSwitch(ssm, NAME).state()

    assert state.engaged is engaged
    if engaged:
        assert state.reason == f"paused by kill switch ({NAME} = 'on')".replace("'on'", repr(value.strip()))


def test_a_missing_parameter_means_no_switch_is_set(ssm):
    assert KillSwitch(ssm, NAME).state().engaged is False


def test_an_unreadable_parameter_pauses_and_says_why(ssm):
    ssm.meta.events.register_first("before-send", lambda **_: _answer(400, "AccessDeniedException"))

    state = KillSwitch(ssm, NAME).state()

    assert state.engaged
    assert "unreadable (AccessDeniedException)" in state.reason


def test_throttling_is_retried_not_taken_for_a_failure(ssm):
    ssm.put_parameter(Name=NAME, Value="on", Type="String")
    answers = iter([_answer(400, "ThrottlingException"), _answer(400, "ThrottlingException")])
    sent: list[str] = []
    ssm.meta.events.register_first("before-send", lambda **_: sent.append("try") or next(answers, None))

    state = KillSwitch(ssm, NAME).state()

    assert len(sent) == 3  # two throttled tries, then the one that read the value
    assert state.engaged
    assert state.reason.startswith("paused by kill switch")


def test_the_value_is_cached_for_at_most_sixty_seconds(ssm):
    ssm.put_parameter(Name=NAME, Value="off", Type="String")
    now = [0.0]
    switch = KillSwitch(ssm, NAME, clock=lambda: now[0])
    assert not switch.state().engaged

    ssm.put_parameter(Name=NAME, Value="on", Type="String", Overwrite=True)
    now[0] = 59.0
    assert not switch.state().engaged  # still cached
    now[0] = 60.0
    assert switch.state().engaged  # re-read after a minute
