"""Typed, frozen Lambda settings read from the environment once, failing fast with the variable's name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache

from finops.models.config import FinOpsConfig, load_config


class SettingsError(RuntimeError):
    """A required environment variable is missing or empty."""


@dataclass(frozen=True, slots=True)
class Settings:
    """One field per environment variable; the construct in stacks/ sets exactly these (see ENV below)."""

    config_path: str
    audit_table_name: str
    idempotency_table_name: str
    slack_retry_queue_url: str
    engine_bucket_name: str  # target lists and the Distributed Map's results
    state_table_name: str  # the engine's own state: when each capability's last run completed

    ENV = {
        "config_path": "FINOPS_CONFIG_PATH",
        "audit_table_name": "AUDIT_TABLE_NAME",
        "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
        "slack_retry_queue_url": "SLACK_RETRY_QUEUE_URL",
        "engine_bucket_name": "ENGINE_BUCKET_NAME",
        "state_table_name": "STATE_TABLE_NAME",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        missing: list[str] = []
        for field in fields(cls):
            variable = cls.ENV[field.name]
            value = environ.get(variable, "").strip()
            if not value:
                missing.append(variable)
            values[field.name] = value
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """The variables ``from_env`` reads, set to these values: what the stack gives the function."""
        return {self.ENV[field.name]: getattr(self, field.name) for field in fields(self)}


@lru_cache(maxsize=4)
def config_at(path: str) -> FinOpsConfig:
    """The validated config, read once per cold start."""
    return load_config(path)
