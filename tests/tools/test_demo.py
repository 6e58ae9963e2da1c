"""`make demo` tells the whole story: every step happens for real and the summary says so."""

from __future__ import annotations

import io
import re

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
    # The scheduler: a preview that changes nothing, the evening stop, the kill switch, the morning start.
    assert "(reconcile, report mode): 11 acted, 2 failed, 6 skipped worth knowing" in text
    assert "payments-checkout-staging still min 1 / desired 2 / max 4" in text
    assert "payments-checkout-staging now min 0 / desired 0 / max 0 (sizes kept in a tag)" in text
    assert "payments-reporting           prod account (account tag environment=prod)" in text
    assert "paused: paused by kill switch (/finops/kill-switch = 'on')" in text
    assert "payments-checkout-staging restored to min 1 / desired 2 / max 4" in text
    assert "start           payments-recon-staging       InsufficientInstanceCapacity" in text
    assert "sandbox-legacy (777777777777) eu-west-1 cannot assume FinOpsMemberRole: AccessDenied" in text
    # the storage clean-up: marks, an owner keeping one, the sweep with its safety nets, a restore
    assert "(sweep, report mode): 21 acted" in text
    assert "left alone ×1   backs AMI" in text
    assert "(disabled)" in text
    assert "(deprecated)" in text
    assert "left alone ×1   managed by AWS Backup" in text
    assert "left alone ×1   managed by Data Lifecycle Manager" in text
    assert "left alone ×1   shared with 1 account(s)" in text
    assert "prod account (account tag environment=prod)" in text
    assert re.search(r"unmark +staging-perf-scratch +no longer eligible: protected \(finops:protect=true\)", text)
    assert "Circuit breaker tripped: 12 of 14 volumes (86%)" in text
    assert "Recycle Bin: 1 volume not deleted in us-east-1" in text
    assert "restore: `make" in text
    assert "restored: vol-" in text
    assert "Slack sink received 26 messages" in text
    assert "Audit trail (finops-audit, 63 records)" in text
