"""Tag governance's part of `make demo`: the policy bundle a security reviewer reads, a creation the SCPs deny, the
compliance KPIs of the simulated Organization before and after the auto-tagger tags a new launch, and the weekly
digest in the sink.

A developer of payments launches an instance with only its Name and team; CloudTrail's event reaches the hub a few
minutes later. The compliance run in between sees the launch untagged; auto_tagger then tags it with its creator, its
creation time and the tags its creator's IAM role carries; the next compliance run counts it compliant.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from tools.demo_scheduler import at

EVENTS = Path(__file__).parents[1] / "tests" / "events"
EVENTS_FILE = "cloudtrail_run_instances"
LAUNCHED = datetime(2026, 12, 14, 9, 15, 2, tzinfo=UTC)  # a Monday: the weekly digest's day
BEFORE = datetime(2026, 12, 14, 9, 20, tzinfo=UTC)  # CloudTrail's event is still on its way (it takes minutes)
AFTER = datetime(2026, 12, 14, 9, 40, tzinfo=UTC)
# What the platform team put on the deploy role: the auto-tagger copies these to what the role creates.
DIGEST_LINES = 30  # of each digest shown: the sink holds the whole message
ROLE_TAGS = {"team": "payments", "environment": "staging", "cost-center": "CC-1042", "owner": "jane@example.com"}


def auto_tagging(config: FinOpsConfig) -> FinOpsConfig:
    """The shipped config with the auto-tagger enforcing and copying every required key the creator's role carries."""
    required = [rule.key for rule in config.taxonomy.tags if rule.required or rule.key in ROLE_TAGS]
    copied = tuple(dict.fromkeys([*config.capabilities.auto_tagger.copy_tag_keys, *required]))
    tagger = config.capabilities.auto_tagger.model_copy(update={"mode": Mode.ENFORCE, "copy_tag_keys": copied})
    return config.model_copy(update={"capabilities": config.capabilities.model_copy(update={"auto_tagger": tagger})})


def launch_event() -> dict[str, Any]:
    """The sample RunInstances event, on the demo's Monday, its instance tagged only with Name and team."""
    event: dict[str, Any] = json.loads((EVENTS / f"{EVENTS_FILE}.json").read_text())
    when = LAUNCHED.isoformat().replace("+00:00", "Z")
    event["time"] = event["detail"]["eventTime"] = when
    event["id"] = event["detail"]["eventID"] = "demo-launch-checkout-api-1"
    for spec in event["detail"]["requestParameters"]["tagSpecificationSet"]["items"]:
        spec["tags"] = [t for t in spec["tags"] if t["key"] == "Name"]
    return event


# The Organization's last 30 days as Cost Explorer would group them by the team tag (moto tracks no costs): what the
# spend KPI reads. `team$` is the untagged bucket; `Payments` is a value the taxonomy does not allow.
SPEND_BY_TEAM_TAG = {"team$payments": 18_420.55, "team$data": 9_310.20, "team$platform": 4_102.75, "team$": 6_880.40}
SPEND_UNKNOWN_TEAM = {"team$Payments": 612.10}


def seed_spend(config: FinOpsConfig, when: datetime) -> None:
    from tools.sim._moto_internals import queue_cost_and_usage

    groups = {**SPEND_BY_TEAM_TAG, **SPEND_UNKNOWN_TEAM}
    queue_cost_and_usage(
        config.organization.management_account_id,
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": f"{when:%Y-%m}-01", "End": f"{when:%Y-%m-%d}"},
                    "Total": {},
                    "Groups": [
                        {"Keys": [key], "Metrics": {"AmortizedCost": {"Amount": f"{usd:.2f}", "Unit": "USD"}}}
                        for key, usd in groups.items()
                    ],
                    "Estimated": False,
                }
            ],
            "DimensionValueAttributes": [],
        },
    )


def _kpi_lines(demo: Any, document: dict[str, Any]) -> None:
    kpis = document["kpis"]
    total = kpis["resources"]
    demo.say(
        f"   compliant: {total['percent']}% ({total['compliant']} of {total['total']} resources); "
        f"{len(document['noncompliant'])} non-compliant listed"
    )
    demo.say(
        "   by team:   "
        + ", ".join(f"{team or '(no team)'} {v['percent']}%" for team, v in sorted(kpis["by_team"].items()))
    )
    demo.say("   by type:   " + ", ".join(f"{kind} {v['percent']}%" for kind, v in sorted(kpis["by_type"].items())))
    spend = kpis.get("spend") or {}
    if spend.get("error"):
        demo.say(f"   spend attributable to a team: unknown ({spend['error']})")
    else:
        share = spend.get("percent_attributable")
        if share is None:
            demo.say("   spend attributable to a team: no spend reported")
        else:
            demo.say(
                f"   spend attributable to a team: {share}% of ${spend['total_usd']:,.2f} "
                f"(unattributed ${spend['unattributed_usd']:,.2f}; tagged with no known team: "
                + ", ".join(f"{k} ${v:,.2f}" for k, v in sorted(spend.get("unknown_teams", {}).items()))
                + ")"
            )


def _tags(sim: Any, account: str, region: str, instance: str) -> dict[str, str]:
    ec2 = sim.session(account).client("ec2", region_name=region)
    found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


def run_governance_steps(demo: Any, hub: Any, sink: Any, sim: Any) -> None:
    from finops.services.audit import read_trail
    from stacks.policies.bundle import bundle_summary, explain_denied_example
    from tools.sim.cloudtrail import replay

    config = demo.config
    demo.title("Tag governance: the Tag Policy and SCPs generated from the taxonomy (make policies -> docs/policies)")
    for line in bundle_summary(config).splitlines():
        demo.say(f"   {line}")
    demo.title("What the SCPs deny once attached, explained as the reviewer's guide explains it")
    for line in explain_denied_example(config).splitlines():
        demo.say(f"   {line}")

    # The deploy role exists in the member account with the tags its platform team gave it.
    event = launch_event()
    record = event["detail"]
    issuer = record["userIdentity"]["sessionContext"]["sessionIssuer"]
    account, region = record["recipientAccountId"], record["awsRegion"]
    iam = sim.session(account).client("iam")
    iam.create_role(
        RoleName=issuer["userName"],
        Path="/deploy/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Tags=[{"Key": k, "Value": v} for k, v in ROLE_TAGS.items()],
    )
    demo.title(f"Mon 14 Dec 09:15: a developer launches checkout-api-1 in {account} {region} with only a Name tag")
    log = io.StringIO()
    event = replay(sim, event, config=config, log=log)
    for line in log.getvalue().splitlines():
        demo.say(f"   {line}")
    instance = record_instance(event)

    seed_spend(config, BEFORE)
    demo.title("09:20, tag compliance (the daily run, asked for its weekly digest): the KPIs before auto-tagging")
    before = hub.run("tag_compliance", at(BEFORE, digest=True))
    _kpi_lines(demo, before)
    launched = next(f for f in before["noncompliant"] if f["id"] == instance)
    demo.say(f"   checkout-api-1: missing {', '.join(launched['missing'])}")

    demo.title("09:30, CloudTrail's RunInstances event reaches the hub's bus: auto_tagger, as shipped (report mode)")
    preview = hub.invoke("auto_tagger", event)
    for item in preview.to_json().get("would_tag", []):
        demo.say(f"   would tag {item['type']} {item['id']}: {item['tags']}")
    demo.say(f"   instance tags unchanged: {_tags(sim, account, region, instance)}")

    demo.title("The same event with capabilities.auto_tagger.mode: enforce, copying the deploy role's tags")
    enforce = auto_tagging(config)
    tagged = hub.invoke("auto_tagger", event, config=enforce)
    for item in tagged.to_json().get("tagged", []):
        demo.say(f"   tagged {item['type']} {item['id']}: {', '.join(sorted(item['tags']))}")
    demo.say(f"   instance tags now: {_tags(sim, account, region, instance)}")
    audited = len(read_trail(hub.dynamodb, hub.audit_table))
    again = hub.invoke("auto_tagger", event, config=enforce)
    demo.say(
        "   EventBridge delivers the event again: the first delivery's result comes back "
        f"({len(again.to_json().get('tagged', []))} tagged), nothing is tagged twice, "
        f"{len(read_trail(hub.dynamodb, hub.audit_table)) - audited} new audit records"
    )

    demo.title("09:40, tag compliance again: the KPIs after auto-tagging, and the digest each team reads")
    posted = len(sink.posts)
    after = hub.run("tag_compliance", at(AFTER, digest=True))
    _kpi_lines(demo, after)
    still = [f for f in after["noncompliant"] if f["id"] == instance]
    demo.say(f"   checkout-api-1: {'still missing ' + ', '.join(still[0]['missing']) if still else 'compliant'}")
    change = after["kpis"]["resources"]["compliant"] - before["kpis"]["resources"]["compliant"]
    demo.say(f"   {change:+d} compliant resource(s) since 09:20")
    shown = {p.channel: p for p in sink.posts[posted:]}
    demo.say(f"   digests posted: {', '.join(sorted(shown))}")
    for channel in ("#payments-oncall", config.notifications.slack.default_channel):
        if channel in shown:
            demo.show(shown[channel], max_lines=DIGEST_LINES)


def record_instance(event: dict[str, Any]) -> str:
    items = event["detail"]["responseElements"]["instancesSet"]["items"]
    return str(items[0]["instanceId"])
