from datetime import timedelta

import pytest
from paysweep.config import ConfigError, SweepConfig
from paysweep.domain.outcomes import Outcome

BASE = {
    "ORDERS_TABLE": "orders",
    "COMPENSATIONS_TABLE": "compensations",
    "APPROVED_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:approved",
    "FAILED_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:failed",
    "CANCELLED_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cancelled",
    "REVIEW_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:review",
    "PROVIDER_BASE_URL": "https://pgapi.example.com/",
    "PROVIDER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:kicc",
}


def test_defaults_follow_the_providers_documentation():
    config = SweepConfig.from_env(BASE)
    assert config.http_timeout == 30
    assert config.provider_base_url == "https://pgapi.example.com"
    assert config.topic_arns[Outcome.REVIEW].endswith(":review")
    assert config.sweep_shards == 4 and config.due_index == "due-index"


def test_the_lease_outlasts_one_provider_call_and_the_sweep_stops_claiming_before_that():
    config = SweepConfig.from_env(BASE)
    assert config.call_budget >= timedelta(seconds=30)
    assert config.lease > config.call_budget
    assert config.claim_reserve > config.call_budget


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("SWEEP_SHARDS", "0", "SWEEP_SHARDS must be between"),
        ("SWEEP_SHARDS", "four", "whole number"),
        ("HTTP_TIMEOUT_SECONDS", "0", "HTTP_TIMEOUT_SECONDS"),
        ("BACKOFF_SCHEDULE_SECONDS", "60,0", "BACKOFF_SCHEDULE_SECONDS"),
        ("BACKOFF_SCHEDULE_SECONDS", "1m", "BACKOFF_SCHEDULE_SECONDS"),
        ("ALLOW_INSECURE_HTTP", "maybe", "ALLOW_INSECURE_HTTP"),
    ],
)
def test_bad_values_name_their_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        SweepConfig.from_env({**BASE, name: value})


def test_missing_required_variables_are_named():
    env = dict(BASE)
    del env["ORDERS_TABLE"]
    with pytest.raises(ConfigError, match="ORDERS_TABLE is required"):
        SweepConfig.from_env(env)


def test_plain_http_is_refused_unless_explicitly_allowed_for_a_simulator():
    insecure = {**BASE, "PROVIDER_BASE_URL": "http://127.0.0.1:8080"}
    with pytest.raises(ConfigError, match="plain HTTP"):
        SweepConfig.from_env(insecure)
    assert SweepConfig.from_env({**insecure, "ALLOW_INSECURE_HTTP": "true"}).allow_insecure_http
    with pytest.raises(ConfigError, match="not an https"):
        SweepConfig.from_env({**BASE, "PROVIDER_BASE_URL": "ftp://example.com"})


def test_backoff_schedule_is_configurable():
    assert SweepConfig.from_env({**BASE, "BACKOFF_SCHEDULE_SECONDS": "30, 60,90"}).backoff == (30, 60, 90)


def test_audits_default_to_an_hour_and_a_day_and_an_empty_schedule_turns_them_off():
    config = SweepConfig.from_env(BASE)
    assert config.audit_schedule == (3600, 86400) and config.audit_index == "audit-index"
    assert config.cancel_late_payments
    assert SweepConfig.from_env({**BASE, "AUDIT_SCHEDULE_SECONDS": ""}).audit_schedule == ()
    assert SweepConfig.from_env({**BASE, "AUDIT_SCHEDULE_SECONDS": " "}).audit_schedule == ()
    assert SweepConfig.from_env({**BASE, "AUDIT_SCHEDULE_SECONDS": "600,7200,2592000"}).audit_schedule == (600, 7200, 2592000)
    assert not SweepConfig.from_env({**BASE, "LATE_PAYMENT_ACTION": "Review"}).cancel_late_payments


@pytest.mark.parametrize(
    "value, message",
    [
        ("3600,600", "must be increasing"),
        ("3600,3600", "must be increasing"),
        ("0", "between 1 and 2592000"),
        ("2592001", "between 1 and 2592000"),
        ("1h", "comma-separated whole seconds"),
    ],
)
def test_a_bad_audit_schedule_names_its_variable(value, message):
    with pytest.raises(ConfigError, match=f"AUDIT_SCHEDULE_SECONDS.*{message}|{message}.*"):
        SweepConfig.from_env({**BASE, "AUDIT_SCHEDULE_SECONDS": value})


def test_a_late_payment_action_is_cancel_or_review():
    with pytest.raises(ConfigError, match="LATE_PAYMENT_ACTION must be one of cancel, review"):
        SweepConfig.from_env({**BASE, "LATE_PAYMENT_ACTION": "refund"})


class RecordingDynamoDB:
    """A DynamoDB client that answers every Query with nothing and remembers which index it read."""

    def __init__(self) -> None:
        self.indexes: list[str] = []

    def query(self, **request):
        self.indexes.append(request["IndexName"])
        return {"Items": [], "Count": 0}


def test_the_configured_index_names_reach_the_store(monkeypatch):
    """DUE_INDEX_NAME and AUDIT_INDEX_NAME are what a sweep queries (AUDIT_INDEX_NAME was once
    parsed and then dropped for the store's own default)."""
    from paysweep import runtime
    from paysweep.domain.providers import ProviderProfile
    from paysweep.sweep.request import SweepRequest

    dynamodb = RecordingDynamoDB()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the secret's client is built, never called
    monkeypatch.setattr(runtime.clients, "dynamodb", lambda config=None: dynamodb)
    monkeypatch.setattr(runtime.clients, "sns", lambda config: object())
    profile = ProviderProfile("demo-pay", 40, (), frozenset({"KRW"}), timedelta(hours=1))
    adapter = type("Adapter", (), {"profile": profile, "canceller": None})()
    environ = {**BASE, "SWEEP_SHARDS": "2", "DUE_INDEX_NAME": "due-v2", "AUDIT_INDEX_NAME": "audits-v2"}

    built = runtime.Runtime.from_environment(lambda *args: adapter, environ)
    summary = built.engine.sweep(SweepRequest(), lambda: 120_000)

    assert summary.complete and summary.errors == {}
    assert sorted(dynamodb.indexes) == ["audits-v2", "audits-v2", "due-v2", "due-v2"]
