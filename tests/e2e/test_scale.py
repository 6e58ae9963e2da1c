"""The 1,000th account: enumeration pages through a large Organization and alerts still find their owner."""

from __future__ import annotations

import pytest

from finops.aws.clients import AwsClients
from finops.aws.organizations import list_targets
from tests.conftest import anomaly_event
from tools.local_hub import LocalHub
from tools.sim.estate import generate_estate, simulated_aws

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_org():
    with simulated_aws(generate_estate(1000)) as sim:
        yield sim


def test_every_one_of_a_thousand_accounts_is_targeted(big_org, config):
    calls: list[str] = []
    organizations = AwsClients().client("organizations")
    organizations.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    excluded = "700000000500"

    targets = list_targets(
        config.organization.model_copy(update={"excluded_accounts": (excluded,)}),
        organizations,
        caller_account="111111111111",
    )

    accounts = {t.account for t in targets}
    assert len(accounts) == 1000  # 1,000 members + the management account - 1 excluded
    assert "700000001000" in accounts
    assert excluded not in accounts
    assert len(targets) == 2 * len(accounts)  # × the two configured regions
    assert set(calls) == {"ListAccounts"}
    assert len(calls) > 1  # paged, not truncated at the first page


def test_an_alert_in_the_999th_and_1000th_account_reaches_the_right_channel(big_org, config, sink, tmp_path):
    hub = LocalHub(config, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    hub.invoke("anomaly_alerts", anomaly_event("a-999", account="700000000999"))
    hub.invoke("anomaly_alerts", anomaly_event("a-1000", account="700000001000"))

    tagged, untagged = sink.posts
    assert tagged.channel == "#payments-oncall"
    assert "payments-prod-00999 (700000000999)" in tagged.payload["text"]
    assert untagged.channel == "#finops-alerts"  # every 10th generated account carries no owner tag
