"""The simulated Organization: seed an estate file into moto, and read it back.

    with simulated_aws(load_estate("my-estate.yaml")) as sim:   # or simulated_aws() for default_estate.yaml
        ec2 = sim.session("333333333333").client("ec2", region_name="eu-west-1")
        ...                                                      # run the product; boto3 finds the Organization
        after = dump(sim)                                        # the estate as it is now, in the file's schema

    with simulated_aws() as sim:                                 # what `make invoke` prints as `estate`
        report = estate_report(sim, "changes")                   # reads the estate before the run ...
        ...
        estate = report()                                        # ... and gives what the run changed

:func:`seed` builds the Organization the way an operator would (``organization``): the management account creates
it, its OUs and its member accounts (with the ids the estate gives), tags the accounts and moves them into their OUs;
each member account gets the member role (as the product's StackSet would deploy it), and every resource is created
through ``sts:AssumeRole`` into that role (``ec2``, ``rds``, ``autoscaling``), so the estate is reachable exactly the
way the runtime reaches it. :func:`dump` reads it back through the same describe calls. The estate's simulated faults
(an instance's ``start_error``, a volume's or snapshot's ``delete_error``, an account without the member role) are
patched into moto for the length of :func:`simulated_aws`, which also serves the Recycle Bin API moto lacks, with the
estate's ``recycle_bin_rules`` (``rbin``). Only ``_moto_internals`` touches moto directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest import mock

import boto3
from moto import mock_aws, settings

from tools.sim import _moto_internals, autoscaling, ec2, organization, rbin, rds
from tools.sim._common import Seeded
from tools.sim._moto_internals import Dated, SimulatedFaults
from tools.sim.ec2 import BASE_IMAGE_ID
from tools.sim.model import (
    Account,
    Estate,
    EstateError,
    ManagementAccount,
    RegionResources,
    default_estate,
    generate_estate,
    load_estate,
    parse_estate,
)
from tools.sim.organization import SimulationError
from tools.sim.rbin import RecycleBin

__all__ = [
    "BASE_IMAGE_ID",
    "DEFAULT_MEMBER_ROLE",
    "ESTATE_OUTS",
    "Estate",
    "EstateError",
    "RecycleBin",
    "SimulatedFaults",
    "SimulatedOrganization",
    "SimulationError",
    "changes",
    "default_estate",
    "dump",
    "estate_report",
    "generate_estate",
    "load_estate",
    "parse_estate",
    "seed",
    "simulated_aws",
]

DEFAULT_MEMBER_ROLE = "FinOpsMemberRole"


@dataclass(frozen=True)
class SimulatedOrganization:
    """What :func:`seed` built: the estate, the Organization's ids, every resource's moto-assigned id, the
    simulated faults in force (``faults``) and the Recycle Bin rules served (``recycle_bin``); a test may add to
    both."""

    estate: Estate
    organization_id: str
    root_id: str
    ou_ids: Mapping[str, str]  # OU path -> ou-xxxx
    member_role_name: str
    resource_ids: Mapping[tuple[str, str, Dated, str], str]  # (account, region, kind, name) -> id
    faults: SimulatedFaults = field(default_factory=SimulatedFaults)
    recycle_bin: RecycleBin = field(default_factory=RecycleBin)
    _sessions: dict[tuple[str, str | None], boto3.Session] = field(default_factory=dict, repr=False, compare=False)

    @property
    def management_id(self) -> str:
        return self.estate.management.id

    def has_member_role(self, account_id: str) -> bool:
        return organization.role_arn(account_id, self.member_role_name) not in self.faults.denied_roles

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        """A session in ``account_id``: the default credentials for the management account, else the member role
        assumed from them (as the runtime does). Sessions share one model loader, so making clients is quick.

        Raises :class:`SimulationError` for an account the estate gives ``member_role: false``.
        """
        if account_id == self.management_id:
            return organization.session(region_name=region)
        if not self.has_member_role(account_id):
            name = next((a.name for a in self.estate.accounts if a.id == account_id), "not in the estate")
            raise SimulationError(
                f"account {account_id} ({name}) has no {self.member_role_name} (the estate says member_role: false), "
                "so sts:AssumeRole into it is denied, as the runtime will find"
            )
        key = (account_id, region)
        if key not in self._sessions:
            sts = organization.session().client("sts", region_name="us-east-1")
            self._sessions[key] = organization.assume(sts, account_id, self.member_role_name, region)
        return self._sessions[key]

    def id_of(self, account_id: str, region: str, kind: Dated, name: str) -> str:
        """The id moto gave a resource of the estate (for DB instances, clusters and groups, their identifier or
        name)."""
        try:
            return self.resource_ids[(account_id, region, kind, name)]
        except KeyError:
            raise KeyError(f"no {kind} named {name!r} in {account_id}/{region}") from None


# -- seeding -----------------------------------------------------------------------------------------------------------


@contextmanager
def simulated_aws(
    estate: Estate | None = None, *, member_role_name: str = DEFAULT_MEMBER_ROLE
) -> Iterator[SimulatedOrganization]:
    """Start moto with the simulated faults and the simulated Recycle Bin, seed ``estate`` (default:
    ``default_estate.yaml``) and yield it; everything is undone on exit.

    Sets ``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` (see :func:`seed`) and, if unset, ``AWS_DEFAULT_REGION`` to the
    estate's first region, for the duration only.
    """
    estate = estate or default_estate()
    environment = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    if "AWS_DEFAULT_REGION" not in os.environ:
        environment["AWS_DEFAULT_REGION"] = estate.regions[0]
    recycle_bin = RecycleBin()
    with (
        mock.patch.dict(os.environ, environment),
        mock_aws(),
        _moto_internals.simulated_faults() as faults,
        _moto_internals.serve(rbin.HOST, recycle_bin.answer),
    ):
        yield seed(estate, member_role_name=member_role_name, faults=faults, recycle_bin=recycle_bin)


def seed(
    estate: Estate,
    *,
    member_role_name: str = DEFAULT_MEMBER_ROLE,
    faults: SimulatedFaults | None = None,
    recycle_bin: RecycleBin | None = None,
) -> SimulatedOrganization:
    """Build ``estate`` in the active ``moto.mock_aws()``; afterwards the default credentials are the management's.

    Needs ``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` in the environment (``simulated_aws`` sets it): otherwise moto fills
    every account and region with ~1,300 public AMIs, each with a snapshot that ``DescribeSnapshots
    OwnerIds=self`` returns, and takes about a second per account and region to do it. An estate with simulated
    faults or Recycle Bin rules also needs the patches ``simulated_aws`` installs; ``faults`` and ``recycle_bin`` are
    what they read, filled here.

    moto decides an account by the access key: the default credentials (``FOOBARKEY``) belong to its default account
    123456789012, and ``MOTO_ACCOUNT_ID`` would override even assumed-role keys, sending every member account's
    resources to the management account. So seed creates an IAM user in the management account and puts its keys in
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``; ``mock_aws`` restores both when it stops. Sessions and clients
    made before seed keep the old credentials.
    """
    if settings.ec2_load_default_amis():
        raise SimulationError(
            "set MOTO_EC2_LOAD_DEFAULT_AMIS=false before moto starts (or use tools.sim.estate.simulated_aws): "
            "moto's public AMIs would put ~1,300 snapshots in every account and region"
        )
    if faults is None:
        if _has_faults(estate):
            raise SimulationError(
                "the estate simulates faults (an instance's start_error, a volume's or snapshot's delete_error, an "
                "account with member_role: false), which need moto patched: seed it with "
                "tools.sim.estate.simulated_aws"
            )
        faults = SimulatedFaults()
    if recycle_bin is None:
        if _has_recycle_bin_rules(estate):
            raise SimulationError(
                "the estate has recycle_bin_rules, and moto has no Recycle Bin: seed it with "
                "tools.sim.estate.simulated_aws, which serves them"
            )
        recycle_bin = RecycleBin()
    management = organization.become_management(estate.management)
    org = management.client("organizations", region_name="us-east-1")
    created = org.create_organization(FeatureSet="ALL")["Organization"]
    _moto_internals.name_management_account(
        estate.management.id, name=estate.management.name, email=estate.management.email
    )
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids = organization.create_ous(org, root_id, estate.all_ou_paths())

    for account in estate.accounts:
        organization.create_account(org, account, root_id, ou_ids)
    organization.deploy_member_role(estate.accounts, member_role_name, created["Id"])
    faults.denied_roles.update(
        organization.role_arn(a.id, member_role_name) for a in estate.accounts if not a.member_role
    )

    sts = management.client("sts", region_name="us-east-1")
    resource_ids: dict[tuple[str, str, Dated, str], str] = {}
    for account in estate.accounts:
        if account.regions:
            member = (
                organization.assume(sts, account.id, member_role_name)
                if account.member_role
                else organization.as_account_itself(account.id)
            )
            for region, resources in account.regions.items():
                ids = _seed_region(member, account.id, region, resources, faults)
                rbin.seed(recycle_bin, account.id, region, resources.recycle_bin_rules)
                resource_ids.update({(account.id, region, kind, name): id_ for (kind, name), id_ in ids.items()})
    return SimulatedOrganization(
        estate=estate,
        organization_id=created["Id"],
        root_id=root_id,
        ou_ids=ou_ids,
        member_role_name=member_role_name,
        resource_ids=resource_ids,
        faults=faults,
        recycle_bin=recycle_bin,
    )


def _has_faults(estate: Estate) -> bool:
    return any(
        not account.member_role
        or any(
            any(i.start_error for i in resources.instances)
            or any(v.delete_error for v in resources.volumes)
            or any(s.delete_error for s in resources.snapshots)
            for resources in account.regions.values()
        )
        for account in estate.accounts
    )


def _has_recycle_bin_rules(estate: Estate) -> bool:
    return any(resources.recycle_bin_rules for account in estate.accounts for resources in account.regions.values())


def _seed_region(
    member: boto3.Session, account_id: str, region: str, resources: RegionResources, faults: SimulatedFaults
) -> dict[tuple[Dated, str], str]:
    """Create one account-region's resources in dependency order; return their ids by (kind, name)."""
    seeded = Seeded()
    ec2.seed(member, account_id, region, resources, seeded)
    rds.seed(member, region, resources, seeded)
    autoscaling.seed(member, region, resources, seeded)
    for instance in resources.instances:
        if instance.start_error is not None:
            faults.start_errors[(account_id, region, seeded.ids[("instance", instance.name)])] = instance.start_error
    deletable: list[tuple[Dated, str, str | None]] = [
        *(("volume", v.name, v.delete_error) for v in resources.volumes),
        *(("snapshot", s.name, s.delete_error) for s in resources.snapshots),
    ]
    for kind, name, code in deletable:
        if code is not None:
            faults.delete_errors[(account_id, region, seeded.ids[(kind, name)])] = code
    # Last, so nothing above (an attach, a stop) resets a time: the ages the estate file gives.
    for kind, resource_id, when in seeded.dates:
        _moto_internals.backdate(account_id, region, kind, resource_id, when)
    return seeded.ids


# -- reading back ------------------------------------------------------------------------------------------------------


def dump(sim: SimulatedOrganization) -> dict[str, Any]:
    """The estate as it is now, read through describe calls, in the estate-file schema (with moto's ``id``s).

    Left out because they follow from something else in the file: each instance's root volume, the instances an
    Auto Scaling group launched, and the snapshot CreateImage made for an image of an instance still in the file.
    A resource without a Name tag gets its id as its name. Empty regions and resource lists are left out. The
    simulated faults are estate data, not AWS state, and are written back from ``sim.faults``. A deregistered image
    is gone and is not written back (its snapshot is). Recycle Bin rules are read through ListRules and GetRule.
    """
    org = sim.session(sim.management_id).client("organizations", region_name="us-east-1")
    paths = organization.ou_paths(org, sim.root_id)
    accounts = []
    for listed in organization.list_member_accounts(org, sim.management_id, paths):
        member_role = sim.has_member_role(listed.id)
        session = sim.session(listed.id) if member_role else organization.as_account_itself(listed.id)
        regions = {region: _dump_region(session, listed.id, region, sim.faults) for region in sim.estate.regions}
        accounts.append(
            Account(
                id=listed.id,
                name=listed.name,
                email=listed.email,
                ou=listed.ou,
                tags=listed.tags,
                member_role=member_role,
                regions={region: resources for region, resources in regions.items() if resources != _EMPTY},
            )
        )
    described = org.describe_account(AccountId=sim.management_id)["Account"]
    estate = Estate(
        management=ManagementAccount(id=described["Id"], name=described["Name"], email=described["Email"]),
        regions=sim.estate.regions,
        ous=organization.leaves(path for path in paths.values() if path is not None),
        accounts=tuple(sorted(accounts, key=lambda a: a.id)),
    )
    data: dict[str, Any] = _without_empty_lists(estate.model_dump(mode="json"))
    return data


_EMPTY = RegionResources()


def _dump_region(session: boto3.Session, account_id: str, region: str, faults: SimulatedFaults) -> RegionResources:
    in_ec2 = ec2.dump(
        session, region, faults.start_errors_in(account_id, region), faults.delete_errors_in(account_id, region)
    )
    db_clusters, db_instances = rds.dump(session, region)
    return RegionResources(
        instances=in_ec2.instances,
        volumes=in_ec2.volumes,
        snapshots=in_ec2.snapshots,
        images=in_ec2.images,
        db_clusters=db_clusters,
        db_instances=db_instances,
        auto_scaling_groups=autoscaling.dump(session, region),
        recycle_bin_rules=rbin.dump(session, region),
    )


_RESOURCE_LISTS = frozenset(RegionResources.model_fields)


def _without_empty_lists(data: Any) -> Any:
    """Drop empty resource lists and regions so a dump reads like a hand-written file."""
    if isinstance(data, dict):
        return {
            k: _without_empty_lists(v)
            for k, v in data.items()
            if not (k in _RESOURCE_LISTS and v == []) and not (k == "regions" and v == {})
        }
    if isinstance(data, list):
        return [_without_empty_lists(v) for v in data]
    return data


# -- what a run changed ------------------------------------------------------------------------------------------------

EstateOut = Literal["changes", "full"]
ESTATE_OUTS: tuple[EstateOut, ...] = ("changes", "full")
_ACCOUNT_KEYS = ("id", "name", "email", "ou", "tags", "member_role")


def estate_report(sim: SimulatedOrganization, out: EstateOut) -> Callable[[], dict[str, Any]]:
    """What `make invoke` prints as ``estate``: call it before the run, call what it returns after.

    ``full``: :func:`dump` after the run. ``changes`` (the default of `make invoke`): reads the estate now, and
    afterwards gives :func:`changes` between the two reads, so an alert run prints a few lines, not the Organization.
    """
    if out == "full":
        return lambda: dump(sim)
    before = dump(sim)
    return lambda: changes(before, dump(sim))


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What differs between two :func:`dump` s, in the dump's own shape.

    ``accounts`` holds each account that has a resource created or changed (its state, its tags, anything the dump
    shows), with its own keys as the dump gives them and, under ``regions``, only those resources, whole, as
    :func:`dump` writes them: a reader of the full estate reads them the same way. ``created`` and ``deleted`` list
    ``{"account", "region", "kind", "id", "name"}`` (a deleted resource is only there). An account that is new, gone
    or whose own keys changed counts too. ``unchanged`` counts the resources left as they were.
    """
    old = {a["id"]: a for a in before.get("accounts", [])}
    new = {a["id"]: a for a in after.get("accounts", [])}
    accounts: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    unchanged = 0
    for account_id in sorted(old.keys() - new.keys()):
        deleted.append({"account": account_id, "kind": "account", "id": account_id, "name": old[account_id]["name"]})
    for account_id, account in new.items():
        was = old.get(account_id)
        if was is None:
            created.append({"account": account_id, "kind": "account", "id": account_id, "name": account["name"]})
        regions: dict[str, dict[str, list[Any]]] = {}
        for region in sorted({*account.get("regions", {}), *((was or {}).get("regions", {}))}):
            now_there = account.get("regions", {}).get(region, {})
            then_there = (was or {}).get("regions", {}).get(region, {})
            for kind in [k for k in RegionResources.model_fields if k in now_there or k in then_there]:
                then = {_identity(r): r for r in then_there.get(kind, [])}
                now = {_identity(r): r for r in now_there.get(kind, [])}
                for key, resource in now.items():
                    if then.get(key) == resource:
                        unchanged += 1
                        continue
                    regions.setdefault(region, {}).setdefault(kind, []).append(resource)
                    if key not in then:
                        created.append(_ref(account_id, region, kind, resource))
                deleted += [_ref(account_id, region, kind, r) for key, r in then.items() if key not in now]
        own_changed = was is None or any(was.get(k) != account.get(k) for k in _ACCOUNT_KEYS)
        if regions or own_changed:
            accounts.append({**{k: account[k] for k in _ACCOUNT_KEYS if k in account}, "regions": regions})
    return {"shows": "changes", "accounts": accounts, "created": created, "deleted": deleted, "unchanged": unchanged}


def _identity(resource: Mapping[str, Any]) -> str:
    return str(resource.get("id") or resource.get("identifier") or resource.get("name"))


def _ref(account_id: str, region: str, kind: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    name = resource.get("name") or resource.get("identifier")
    return {"account": account_id, "region": region, "kind": kind, "id": resource.get("id"), "name": name}
