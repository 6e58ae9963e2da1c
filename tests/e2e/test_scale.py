"""The 1,000th account: enumeration pages through a large Organization and alerts still find their owner."""

from __future__ import annotations

import pytest

from finops.aws.clients import AwsClients
from finops.aws.organizations import enumerate_targets
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

    organization = config.organization.model_copy(update={"excluded_accounts": (excluded,)})

    enumeration = enumerate_targets(config.model_copy(update={"organization": organization}), organizations)

    accounts = {t.account for t in enumeration.targets}
    assert len(accounts) == 999  # 1,000 members - 1 excluded; the management account is not a target by default
    assert "700000001000" in accounts
    assert excluded not in accounts
    assert len(enumeration.targets) == 2 * len(accounts)  # × the two configured regions
    assert calls.count("ListAccounts") > 1  # paged, not truncated at the first page
    assert calls.count("ListTagsForResource") == 1000  # each account's tags once (exclusion, prod, team)
    assert {e["account"] for e in enumeration.excluded} == {excluded, "111111111111"}


def test_an_alert_in_the_999th_and_1000th_account_reaches_the_right_channel(big_org, config, sink, tmp_path):
    hub = LocalHub(config, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    hub.invoke("anomaly_alerts", anomaly_event("a-999", account="700000000999"))
    hub.invoke("anomaly_alerts", anomaly_event("a-1000", account="700000001000"))

    tagged, untagged = sink.posts
    assert tagged.channel == "#payments-oncall"
    assert "payments-prod-00999 (700000000999)" in tagged.payload["text"]
    assert untagged.channel == "#finops-alerts"  # every 10th generated account carries no owner tag
