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
    assert "posted to #data-oncall (low, team data)" in text  # team data's own tiers
    assert "escalated from low to critical: posted to #data-oncall (critical, team data)" in text
    assert "and in the first message's thread: Escalated from LOW to CRITICAL" in text
    assert "Slack messages for it: 2 (a repeat in the same tier posts nothing)" in text
    assert "anomaly:demo-two-teams (payments): posted to #payments-oncall (critical, team payments)" in text
    assert "anomaly:demo-two-teams (data): posted to #data-oncall (low, team data)" in text
    assert "posted to #finops-alerts (low, team unknown)" in text
    assert "*Max daily impact*: $164.50 a day at most" in text
    assert "*Owner*: maria.garcia@acme.example" in text
    assert "[Open in Cost Explorer] https://console.aws.amazon.com/cost-management/home#/cost-explorer?" in text
    assert "budgets/details?name=payments-staging-monthly" in text
    assert ":money_with_wings: *ACTUAL*: $912.40 spent, 91% of the budget" in text  # high: no mention
    assert "Slack saw 2 requests [429, 200]" in text
    assert "Slack back, redrive: queue depth 0, delivered to #payments-oncall" in text
    assert "the late message reads: :warning: Delivered 47 minutes late: held since 2026-11-27 08:14 UTC" in text
    assert "on-failure queue finops-anomaly-alerts-failures holds 1 event(s)" in text
    assert (
        "posted to #finops-alerts (critical, team payments); redirected: Slack refused #payments-oncall: "
        "not_in_channel (invite the bot to the channel)" in text
    )
    assert ":warning: Meant for #payments-oncall, which refused it" in text
    redirected = text.split("The bot was removed from #payments-oncall", 1)[1].split("\n1", 1)[0]
    assert "<!here>" not in redirected.split("└─", 1)[0]  # not paging the default channel for payments
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
    # tag governance: the bundle, a denied launch, the KPIs before and after the auto-tagger, the digests
    assert "Policy bundle: 3 policies, not attached: policies.attach is false" in text
    assert re.search(r"-> denied by finops-scp-\d, statement DenyCreateWithoutTeam", text)
    assert "The same launch by the member role FinOpsMemberRole: allowed" in text
    assert "checkout-api-1: missing team, environment, cost-center" in text
    assert "instance tags unchanged: {'Name': 'checkout-api-1'}" in text
    creator = "'finops:created-by': 'arn:aws:iam::444444444444:role/deploy/PaymentsDeployer session jane@example.com'"
    assert "instance tags now: {'Name': 'checkout-api-1', 'cost-center': 'CC-1042'" in text
    assert creator in text.split("instance tags now:", 1)[1].split("\n", 1)[0]
    assert "nothing is tagged twice, 0 new audit records" in text
    assert "checkout-api-1: compliant" in text
    assert "+2 compliant resource(s) since 09:20" in text
    assert "spend attributable to a team: 80.9% of $39,326.00 (unattributed $6,880.40" in text
    assert "digests posted: #data-oncall, #finops-alerts, #payments-oncall, #platform-oncall" in text
    assert "Tag compliance (preview): payments" in text
    assert "Slack sink received 38 messages" in text
    assert "Audit trail (finops-audit, 69 records)" in text
