"""Settings fail fast and name every missing variable."""

import pytest

from finops.settings import Settings, SettingsError

FULL = {
    "FINOPS_CONFIG_PATH": "/opt/finops/config.json",
    "AUDIT_TABLE_NAME": "audit",
    "IDEMPOTENCY_TABLE_NAME": "idem",
    "SLACK_RETRY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
    "ENGINE_BUCKET_NAME": "engine",
    "STATE_TABLE_NAME": "state",
}


def test_every_field_comes_from_its_variable():
    settings = Settings.from_env(FULL)

    assert settings == Settings(
        "/opt/finops/config.json", "audit", "idem", "https://sqs.us-east-1.amazonaws.com/1/q", "engine", "state"
    )


@pytest.mark.parametrize("missing", sorted(FULL))
def test_a_missing_or_blank_variable_is_named(missing):
    with pytest.raises(SettingsError, match=f"missing environment variable\\(s\\): {missing}$"):
        Settings.from_env(FULL | {missing: "  "})


def test_the_handler_refuses_to_start_without_its_settings(monkeypatch):
    # Powertools reads these at import, as in Lambda, where the function's environment is always set
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FinOps")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "anomaly_alerts")
    import importlib

    from finops.handlers import anomaly_alerts
    from tools.local_hub import LambdaContext

    anomaly_alerts = importlib.reload(anomaly_alerts)  # with this environment, whoever imported it first

    for variable in FULL:
        monkeypatch.delenv(variable, raising=False)

    with pytest.raises(SettingsError, match="FINOPS_CONFIG_PATH, AUDIT_TABLE_NAME"):
        anomaly_alerts.handler({"Records": []}, LambdaContext(function_name="finops-anomaly-alerts"))
