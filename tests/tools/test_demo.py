"""`make demo` tells the whole story: every step happens for real and the summary says so."""

from __future__ import annotations

import io

import pytest

from tools.demo import Demo


@pytest.mark.slow
def test_demo_runs_every_capability_and_reports_what_happened(config):
    out = io.StringIO()

    Demo(config, out).run()

    text = out.getvalue()
    assert "posted to #payments-oncall (critical, team payments)" in text
    assert "Slack messages so far: 1 (one, not two)" in text
    assert "posted to #data-oncall (high, team data)" in text
    assert "posted to #finops-alerts (medium, team unknown)" in text
    assert "Slack saw 2 requests [429, 200]" in text
    assert "Slack back, redrive: queue depth 0, delivered to #payments-oncall" in text
    assert "the late message reads: :warning: Delivered late: held since 2026-11-27 08:14 UTC" in text
    assert "on-failure queue finops-anomaly-alerts-failures holds 1 event(s)" in text
    assert (
        "posted to #finops-alerts (critical, team payments); redirected: Slack refused #payments-oncall: "
        "not_in_channel (invite the bot to the channel)" in text
    )
    assert ":warning: Meant for #payments-oncall, which refused it" in text
    assert "Slack sink received 8 messages" in text
    assert "Audit trail (finops-audit, 9 records)" in text
