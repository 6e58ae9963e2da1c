"""What the scheduler reads in one target: each resource it can stop and start, normalised across services.

``finops.services.scheduler.inventory.read_inventory`` builds these from the describe calls; the pure planner turns
them into actions. Nothing here talks to AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ResourceKind = Literal["ec2:instance", "autoscaling:group", "rds:db", "rds:cluster"]
PowerState = Literal["running", "stopped", "pending", "stopping", "other"]


@dataclass(frozen=True, slots=True)
class Resource:
    """One schedulable resource as the APIs described it a moment ago."""

    kind: ResourceKind
    id: str  # instance id, group name, DB instance identifier, cluster identifier
    # normalised: EC2 pending/running/stopping/stopped; ASG running when desired>0 (or min>0) else stopped;
    # RDS available->running, stopped, starting->pending, stopping, else other
    state: PowerState
    tags: Mapping[str, str]
    name: str | None = None  # Name tag / identifier
    arn: str | None = None
    # instance type, DB instance class (cluster: its members' class); group: instance type of its launch
    # template / config if cheaply known, else None
    size: str | None = None
    # instances it stands for: group -> desired capacity (or the remembered desired when stopped), cluster -> members
    count: int = 1
    hibernation: bool = False  # EC2 HibernationOptions.Configured
    not_schedulable: str | None = None  # why it must not be acted on by itself, worded for a digest reader
    raw_state: str = ""  # exactly what the API said
    # group: {"min","desired","max"}; rds: {"engine", "cluster"}; any remembered state
    details: Mapping[str, Any] = field(default_factory=dict)
