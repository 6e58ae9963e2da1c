"""The estate file's model: what it accepts, and errors that name the key path of what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from finops.models.config import load_config
from tools.sim.model import Estate, EstateError, default_estate, generate_estate, load_estate, parse_estate

REPO = Path(__file__).resolve().parents[2]
VOLUMES = ("accounts", 0, "regions", "eu-west-1", "volumes")
INSTANCES = ("accounts", 0, "regions", "eu-west-1", "instances")
REGION = ("accounts", 0, "regions", "eu-west-1")


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("management", "id"), "1111", "management.id: expected a 12-digit account id, quoted, e.g. '012345678901'"),
        (("regions",), [], "regions: needs at least 1 item(s)"),
        (("colour",), "red", "colour: unknown key"),
        (("accounts", 0, "id"), "111111111111", "accounts[0].id: 111111111111 is the management account"),
        (("accounts", 0, "ou"), "Workloads/Dev", "accounts[0].ou: 'Workloads/Dev' is not listed under ous"),
        (("accounts", 0, "regions", "us-east-1"), {}, "accounts[0].regions.us-east-1: not one of the estate's regions"),
        (("accounts", 0, "email"), "payments", "accounts[0].email: 'payments' does not match"),
        ((*VOLUMES, 1, "size_gb"), 0, "volumes[1].size_gb: Input should be greater than or equal to 1 (got 0)"),
        ((*VOLUMES, 1, "volume_type"), "gp9", "accounts[0].regions.eu-west-1.volumes[1].volume_type: Input should be"),
        ((*VOLUMES, 1, "attached_to"), "web", "eu-west-1.volumes[1].attached_to: no instance named 'web' here"),
        ((*VOLUMES, 1, "name"), "api-data", "eu-west-1.volumes: the name 'api-data' is used twice"),
        ((*VOLUMES, 1, "created_at"), "2025-09-01T00:00:00", "volumes[1].created_at: timestamps need a timezone"),
        ((*VOLUMES, 1, "created_at"), "last year", "volumes[1].created_at: Input should be a valid datetime"),
        ((*VOLUMES, 1, "tags"), {"Name": "x"}, "volumes[1].tags: tag 'Name': set the resource's name with `name:`"),
        ((*VOLUMES, 1, "tags"), {"aws:foo": "x"}, "volumes[1].tags: tag 'aws:foo': the aws: prefix is reserved"),
        ((*INSTANCES, 0, "state"), "terminated", "instances[0].state: Input should be 'running' or 'stopped'"),
        ((*INSTANCES, 0, "launched"), "2026-01-01T00:00:00Z", "instances[0].launched: unknown key"),
        ((*INSTANCES, 0, "launched_at"), None, "instances[0].launched_at: Input should be a valid datetime"),
        (
            (*REGION, "snapshots"),
            [{"name": "s", "volume": "nope", "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.snapshots[0].volume: no volume named 'nope' here",
        ),
        (
            (*REGION, "snapshots"),
            [{"name": "s", "volume": "api-data", "size_gb": 99, "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.snapshots[0].size_gb: 99 differs from volume 'api-data' (10)",
        ),
        (
            (*REGION, "images"),
            [{"name": "img", "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.images[0]: give exactly one of `instance` (CreateImage) or `snapshot` (RegisterImage)",
        ),
        (
            (*REGION, "images"),
            [{"name": "img", "snapshot": "gone", "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.images[0].snapshot: no snapshot named 'gone' here",
        ),
        (
            (*REGION, "images"),
            [{"name": "i", "instance": "api", "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.images[0].name: expected the AMI name (and its Name tag) (got 'i')",
        ),
        (
            (*REGION, "auto_scaling_groups"),
            [{"name": "g", "min_size": 2, "max_size": 1, "desired_capacity": 1, "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.auto_scaling_groups[0]: need min_size <= desired_capacity <= max_size (got 2, 1, 1)",
        ),
        (
            (*REGION, "db_instances"),
            [{"identifier": "1db", "created_at": "2026-01-01T00:00:00Z"}],
            "eu-west-1.db_instances[0].identifier: '1db' does not match",
        ),
        ((*INSTANCES, 0, "hibernation"), "sometimes", "instances[0].hibernation: Input should be a valid boolean"),
        (
            (*INSTANCES, 0, "start_error"),
            "no capacity",
            "instances[0].start_error: expected an EC2 error code (got 'no capacity')",
        ),
        (("accounts", 0, "member_role"), "maybe", "accounts[0].member_role: Input should be a valid boolean"),
    ],
)
def test_invalid_estate_names_the_key_path(
    small_estate: dict[str, Any], path: tuple[str | int, ...], value: Any, expected: str
) -> None:
    _set(small_estate, path, value)

    with pytest.raises(EstateError) as raised:
        parse_estate(small_estate, source="estate.yaml")

    assert str(raised.value).startswith("estate.yaml is not a valid estate file:")
    assert expected in str(raised.value)


CREATED = {"created_at": "2026-01-01T00:00:00Z"}
ORDERS = {"identifier": "orders", **CREATED}  # an Aurora cluster
MEMBER = {"identifier": "orders-1", "cluster": "orders", **CREATED}
REPORTS = {"identifier": "reports", **CREATED}  # a standalone postgres instance


@pytest.mark.parametrize(
    ("clusters", "databases", "expected"),
    [
        ([], [MEMBER], "eu-west-1.db_instances[0].cluster: no db_cluster named 'orders' here"),
        (
            [ORDERS],
            [MEMBER, {**MEMBER, "identifier": "orders-2", "engine": "postgres"}],
            "eu-west-1.db_instances[1].engine: 'postgres' differs from cluster 'orders' (aurora-postgresql)",
        ),
        (
            [{**ORDERS, "status": "stopped"}],
            [{**MEMBER, "status": "available"}],
            "db_instances[0].status: 'available' differs from cluster 'orders' (stopped)",
        ),
        (
            [ORDERS],
            [{**MEMBER, "storage_gb": 100}],
            "db_instances[0].storage_gb: Aurora storage belongs to the cluster, so leave it out",
        ),
        (
            [ORDERS],
            [MEMBER, REPORTS, {**MEMBER, "identifier": "both", "replica_of": "reports"}],
            "db_instances[2]: give at most one of `cluster` (an Aurora member) and `replica_of`",
        ),
        ([ORDERS], [], "eu-west-1.db_clusters[0]: no db_instances name it as their `cluster`"),
        ([ORDERS, ORDERS], [MEMBER], "eu-west-1.db_clusters: the name 'orders' is used twice"),
        ([{**ORDERS, "engine": "postgres"}], [], "db_clusters[0].engine: Input should be 'aurora-postgresql' or"),
        (
            [],
            [{"identifier": "reports-replica", "replica_of": "reports", **CREATED}],
            "eu-west-1.db_instances[0].replica_of: no db_instance named 'reports' here",
        ),
        (
            [ORDERS],
            [MEMBER, {"identifier": "orders-replica", "replica_of": "orders-1", **CREATED}],
            "db_instances[1].replica_of: 'orders-1' is a member of Aurora cluster 'orders'",
        ),
        (
            [],
            [
                REPORTS,
                {"identifier": "replica-1", "replica_of": "reports", **CREATED},
                {"identifier": "replica-2", "replica_of": "replica-1", **CREATED},
            ],
            "db_instances[2].replica_of: 'replica-1' is itself a read replica (cascading replicas are not simulated)",
        ),
        (
            [],
            [REPORTS, {"identifier": "replica-1", "replica_of": "reports", "engine": "mysql", **CREATED}],
            "db_instances[1].engine: 'mysql' differs from its source 'reports' (postgres)",
        ),
        (
            [],
            [REPORTS, {"identifier": "replica-1", "replica_of": "reports", "status": "stopped", **CREATED}],
            "db_instances[1].status: a read replica cannot be stopped",
        ),
        (
            [],
            [{**REPORTS, "engine": "aurora-mysql"}],
            "db_instances[0].engine: 'aurora-mysql' runs in an Aurora cluster: give the `cluster`",
        ),
    ],
)
def test_invalid_database_links_name_the_key_path(
    small_estate: dict[str, Any], clusters: list[Any], databases: list[Any], expected: str
) -> None:
    _set(small_estate, (*REGION, "db_clusters"), clusters)
    _set(small_estate, (*REGION, "db_instances"), databases)

    with pytest.raises(EstateError) as raised:
        parse_estate(small_estate, source="estate.yaml")

    assert expected in str(raised.value)
    assert all(p.startswith("accounts[0].regions.eu-west-1.db_") for p in raised.value.problems)


def test_members_and_replicas_take_what_they_leave_out_from_their_link(small_estate: dict[str, Any]) -> None:
    cluster = {**ORDERS, "engine": "aurora-mysql", "instance_class": "db.r6g.xlarge", "status": "stopped"}
    source = {**REPORTS, "instance_class": "db.t4g.medium", "storage_gb": 80}
    replica = {"identifier": "reports-replica", "replica_of": "reports", **CREATED}
    _set(small_estate, (*REGION, "db_clusters"), [cluster])
    _set(small_estate, (*REGION, "db_instances"), [MEMBER, source, replica])

    databases = parse_estate(small_estate, source="estate.yaml").accounts[0].regions["eu-west-1"].db_instances

    assert [(d.engine, d.instance_class, d.storage_gb, d.status) for d in databases] == [
        ("aurora-mysql", "db.r6g.xlarge", 20, "stopped"),
        ("postgres", "db.t4g.medium", 80, "available"),
        ("postgres", "db.t4g.medium", 80, "available"),
    ]
    assert small_estate["accounts"][0]["regions"]["eu-west-1"]["db_instances"][0] == MEMBER  # the input is unchanged


def test_a_scaled_down_group_remembers_its_sizes_in_a_tag(small_estate: dict[str, Any]) -> None:
    group = {"name": "checkout", "min_size": 0, "max_size": 0, "desired_capacity": 0, **CREATED}
    group["tags"] = {"schedule": "office-hours", "finops:scheduler-sizes": "min=1,desired=2,max=4"}
    _set(small_estate, (*REGION, "auto_scaling_groups"), [group])

    [parsed] = parse_estate(small_estate, source="estate.yaml").accounts[0].regions["eu-west-1"].auto_scaling_groups

    assert (parsed.min_size, parsed.desired_capacity, parsed.max_size) == (0, 0, 0)
    assert parsed.tags["finops:scheduler-sizes"] == "min=1,desired=2,max=4"


def test_every_problem_is_listed_not_just_the_first(small_estate: dict[str, Any]) -> None:
    _set(small_estate, (*VOLUMES, 0, "size_gb"), -1)
    _set(small_estate, (*INSTANCES, 0, "instance_type"), "huge")

    with pytest.raises(EstateError) as raised:
        parse_estate(small_estate, source="estate.yaml")

    assert [p.split(":")[0] for p in raised.value.problems] == [
        "accounts[0].regions.eu-west-1.instances[0].instance_type",
        "accounts[0].regions.eu-west-1.volumes[0].size_gb",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just\n- a list\n", "(top level): expected a mapping, got list"),
        ("management: [unclosed\n", "not valid YAML"),
        ("", "(top level): expected a mapping, got NoneType"),
    ],
)
def test_load_estate_errors_name_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(EstateError) as raised:
        load_estate(path)

    assert str(raised.value).startswith(f"{path} is not a valid estate file")
    assert expected in str(raised.value)


def test_load_estate_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="cannot read the file"):
        load_estate(tmp_path / "nowhere.yaml")


def test_ids_from_a_dump_are_accepted_and_do_not_change_the_estate(small_estate: dict[str, Any]) -> None:
    with_ids = parse_estate(small_estate, source="a")
    _set(small_estate, (*VOLUMES, 0, "id"), "vol-0123456789abcdef0")

    assert parse_estate(small_estate, source="b").comparable() == with_ids.comparable()


def test_timestamps_keep_their_instant_whatever_the_zone(small_estate: dict[str, Any]) -> None:
    utc = parse_estate(small_estate, source="a")
    _set(small_estate, (*VOLUMES, 1, "created_at"), "2025-09-01T02:00:00+02:00")

    assert parse_estate(small_estate, source="b").comparable() == utc.comparable()


def test_the_example_in_the_docs_is_a_valid_estate() -> None:
    text = (REPO / "docs" / "estate-file.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]

    estate = parse_estate(yaml.safe_load(example), source="docs/estate-file.md")

    assert estate.account("payments-prod").regions["eu-west-1"].images[1].snapshot == "payments-db-pre-migration"
    staging = estate.account("payments-staging").regions["eu-west-1"]
    assert [d.engine for d in staging.db_instances] == ["aurora-postgresql", "postgres", "postgres"]
    assert staging.instances[1].start_error == "InsufficientInstanceCapacity"
    assert estate.account("sandbox-legacy").member_role is False


def test_ou_paths_imply_their_parents() -> None:
    estate = default_estate()

    assert estate.all_ou_paths() == ["Infrastructure", "Sandbox", "Workloads", "Workloads/NonProd", "Workloads/Prod"]


def test_default_estate_is_the_organization_finops_yaml_names() -> None:
    config = load_config(REPO / "finops.yaml")
    estate = default_estate()

    assert estate.management.id == config.organization.management_account_id
    assert estate.account(config.organization.automation_account_id).name == "shared-services"
    assert set(estate.regions) == set(config.organization.regions)
    assert [a.id for a in estate.accounts] == [
        "222222222222",
        "333333333333",
        "444444444444",
        "555555555555",
        "666666666666",
        "777777777777",
    ]


def _all_resources(estate: Estate) -> list[tuple[str, str, dict[str, str]]]:
    return [
        (account.name, resource.name if hasattr(resource, "name") else resource.identifier, resource.tags)
        for account in estate.accounts
        for resources in account.regions.values()
        for kind in (
            "instances",
            "volumes",
            "snapshots",
            "images",
            "db_clusters",
            "db_instances",
            "auto_scaling_groups",
        )
        for resource in getattr(resources, kind)
    ]


def test_default_estate_has_what_the_tests_need() -> None:
    estate = default_estate()
    resources = _all_resources(estate)
    regions = estate.account("payments-prod").regions["eu-west-1"]

    # An account whose owner comes from nowhere
    assert "team" not in estate.account("sandbox-untagged").tags
    # Protected, mistagged and untagged resources
    assert any(tags.get("finops:protect") == "true" for _, _, tags in resources)
    assert (
        "payments-prod",
        "payments-worker",
        {"team": "Payments", "environment": "prod", "cost-center": "CC-42"},
    ) in (resources)
    assert any(tags.get("environment") == "development" for _, _, tags in resources)
    assert any(tags == {} for _, _, tags in resources)
    # Unattached old volumes, snapshots of a deleted volume, an image backed by a snapshot
    assert any(v.attached_to is None and v.created_at.year == 2025 for v in regions.volumes)
    assert any(s.volume is None for s in regions.snapshots)
    assert any(i.snapshot for i in estate.account("shared-services").regions["eu-west-1"].images)
    assert regions.db_instances
    assert regions.auto_scaling_groups


def test_generate_estate_builds_a_regular_large_estate() -> None:
    estate = generate_estate(250, regions=("eu-west-1", "us-east-1"), instances_per_region=2, volumes_per_region=1)

    assert len({a.id for a in estate.accounts}) == 250
    assert sum(1 for a in estate.accounts if "team" not in a.tags) == 25
    assert {a.ou for a in estate.accounts} == {"Workloads/Prod", "Workloads/NonProd", "Sandbox"}
    first = estate.accounts[0].regions["us-east-1"]
    assert [(i.name, i.state) for i in first.instances] == [("app-0", "stopped"), ("app-1", "running")]
    assert [v.attached_to for v in first.volumes] == [None]


def test_an_estate_file_mistake_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text("accounts:\n  - id: '333333333333'\n    nmae: payments\n", encoding="utf-8")
    with pytest.raises(EstateError) as caught:
        load_estate(path)
    assert f"{path}:3: accounts[0].nmae: unknown key; did you mean `name`?" in str(caught.value)
