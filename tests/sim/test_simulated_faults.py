"""The estate's simulated faults, as the runtime meets them through boto3: an instance that will not start, and an
account the member role never reached."""

from __future__ import annotations

import os
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tools.sim.estate import SimulatedOrganization, SimulationError, dump, seed, simulated_aws
from tools.sim.model import parse_estate

ACCOUNT, REGION = "333333333333", "eu-west-1"
LEGACY = "777777777777"


def _instance(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "launched_at": "2026-09-01T00:00:00Z", **fields}


@pytest.fixture
def faulty_estate(small_estate: dict[str, Any]) -> dict[str, Any]:
    """The small estate, with instances that fail to start and an account without the member role."""
    small_estate["accounts"][0]["regions"][REGION]["instances"] += [
        _instance("recon", instance_type="c6i.2xlarge", state="stopped", start_error="InsufficientInstanceCapacity"),
        _instance("encrypted", state="stopped", start_error="Client.InvalidKMSKey.InvalidState"),
        _instance("web", state="stopped"),
    ]
    small_estate["ous"].append("Sandbox")
    small_estate["accounts"].append(
        {
            "id": LEGACY,
            "name": "sandbox-legacy",
            "email": "aws-sandbox-legacy@acme.example",
            "ou": "Sandbox",
            "member_role": False,
            "regions": {REGION: {"instances": [_instance("legacy-jenkins", tags={"schedule": "office-hours"})]}},
        }
    )
    return small_estate


@pytest.fixture
def faulty_sim(faulty_estate: dict[str, Any]) -> Any:
    with simulated_aws(parse_estate(faulty_estate, source="faulty")) as sim:
        yield sim


def _ec2(sim: SimulatedOrganization) -> Any:
    return sim.session(ACCOUNT, REGION).client("ec2")


def _state(sim: SimulatedOrganization, name: str) -> dict[str, Any]:
    instance_id = sim.id_of(ACCOUNT, REGION, "instance", name)
    described: dict[str, Any] = _ec2(sim).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][
        0
    ]
    return described


def test_a_start_call_with_an_instance_out_of_capacity_fails_whole(faulty_sim: SimulatedOrganization) -> None:
    ids = [faulty_sim.id_of(ACCOUNT, REGION, "instance", name) for name in ("web", "recon")]

    # When the runtime starts both in one call
    with pytest.raises(ClientError) as raised:
        _ec2(faulty_sim).start_instances(InstanceIds=ids)

    # Then the call fails with EC2's error, naming the type and zone, and neither instance started
    error = raised.value.response["Error"]
    assert error["Code"] == "InsufficientInstanceCapacity"
    assert "sufficient c6i.2xlarge capacity in the Availability Zone you requested (eu-west-1a)" in error["Message"]
    assert _state(faulty_sim, "web")["State"]["Name"] == "stopped"
    assert _state(faulty_sim, "recon")["State"]["Name"] == "stopped"


def test_a_start_call_without_the_failing_instance_succeeds(faulty_sim: SimulatedOrganization) -> None:
    web = faulty_sim.id_of(ACCOUNT, REGION, "instance", "web")

    starting = _ec2(faulty_sim).start_instances(InstanceIds=[web])["StartingInstances"]

    assert [(s["InstanceId"], s["CurrentState"]["Name"]) for s in starting] == [(web, "pending")]
    assert _state(faulty_sim, "web")["State"]["Name"] == "running"
    assert _state(faulty_sim, "recon")["State"]["Name"] == "stopped"


def test_an_instance_that_fails_with_a_state_reason_reports_pending_and_is_back_to_stopped(
    faulty_sim: SimulatedOrganization,
) -> None:
    ids = [faulty_sim.id_of(ACCOUNT, REGION, "instance", name) for name in ("web", "encrypted")]

    # When the runtime starts both: the call itself succeeds, as on AWS
    starting = _ec2(faulty_sim).start_instances(InstanceIds=ids)["StartingInstances"]

    # Then both were reported pending, but only one is running: the other says why it stopped
    assert {s["CurrentState"]["Name"] for s in starting} == {"pending"}
    assert _state(faulty_sim, "web")["State"]["Name"] == "running"
    encrypted = _state(faulty_sim, "encrypted")
    assert encrypted["State"]["Name"] == "stopped"
    assert encrypted["StateReason"]["Code"] == "Client.InvalidKMSKey.InvalidState"


def test_a_test_can_add_a_start_error_while_the_simulation_runs(faulty_sim: SimulatedOrganization) -> None:
    web = faulty_sim.id_of(ACCOUNT, REGION, "instance", "web")
    faulty_sim.faults.start_errors[(ACCOUNT, REGION, web)] = "InstanceLimitExceeded"

    with pytest.raises(ClientError, match="InstanceLimitExceeded"):
        _ec2(faulty_sim).start_instances(InstanceIds=[web])

    instances = {i["name"]: i for i in dump(faulty_sim)["accounts"][0]["regions"][REGION]["instances"]}
    assert instances["web"]["start_error"] == "InstanceLimitExceeded"


def test_stopping_an_instance_with_a_start_error_works(faulty_sim: SimulatedOrganization) -> None:
    ec2 = _ec2(faulty_sim)
    recon = faulty_sim.id_of(ACCOUNT, REGION, "instance", "recon")
    with pytest.raises(ClientError):
        ec2.start_instances(InstanceIds=[recon])

    # Once the fault is cleared (capacity is back), it starts and stops like any other
    faulty_sim.faults.start_errors.clear()
    ec2.start_instances(InstanceIds=[recon])
    ec2.stop_instances(InstanceIds=[recon])

    assert _state(faulty_sim, "recon")["State"]["Name"] == "stopped"


def test_assume_role_into_an_account_without_the_member_role_is_denied(faulty_sim: SimulatedOrganization) -> None:
    role = f"arn:aws:iam::{LEGACY}:role/{faulty_sim.member_role_name}"

    with pytest.raises(ClientError) as raised:
        boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="finops-scheduler")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::111111111111:user/finops-simulator is not authorized to perform: sts:AssumeRole on "
        f"resource: {role}"
    )


def test_assume_role_into_the_other_accounts_still_works(faulty_sim: SimulatedOrganization) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{faulty_sim.member_role_name}"

    assumed = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="finops-scheduler")

    assert assumed["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_session_into_an_account_without_the_member_role_says_why(faulty_sim: SimulatedOrganization) -> None:
    with pytest.raises(SimulationError, match=r"account 777777777777 \(sandbox-legacy\) has no FinOpsMemberRole"):
        faulty_sim.session(LEGACY, REGION)


def _in_legacy_account(request: Any, **_: Any) -> None:
    request.headers["x-moto-account-id"] = LEGACY  # as the account's own administrators


def test_the_member_role_was_never_deployed_there(faulty_sim: SimulatedOrganization) -> None:
    iam = boto3.client("iam")
    iam.meta.events.register("before-sign", _in_legacy_account)

    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName=faulty_sim.member_role_name)


def test_dump_writes_the_faults_back(faulty_sim: SimulatedOrganization, faulty_estate: dict[str, Any]) -> None:
    data = dump(faulty_sim)

    # Then the faults are in the dump, the unreachable account's resources too, and it seeds the same estate again
    legacy = next(a for a in data["accounts"] if a["id"] == LEGACY)
    assert legacy["member_role"] is False
    assert [i["name"] for i in legacy["regions"][REGION]["instances"]] == ["legacy-jenkins"]
    instances = {i["name"]: i for i in data["accounts"][0]["regions"][REGION]["instances"]}
    assert instances["recon"]["start_error"] == "InsufficientInstanceCapacity"
    assert instances["web"]["start_error"] is None
    assert parse_estate(data, source="dump").comparable() == parse_estate(faulty_estate, source="file").comparable()


def test_seed_alone_refuses_an_estate_with_faults(faulty_estate: dict[str, Any]) -> None:
    estate = parse_estate(faulty_estate, source="faulty")

    with (
        mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}),
        mock_aws(),
        pytest.raises(SimulationError, match=r"simulates faults .* seed it with tools\.sim\.estate\.simulated_aws"),
    ):
        seed(estate)
