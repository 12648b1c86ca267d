"""The chart's F&O expiry CronJob (`cronJobs.tradeExpiry`): schedule, settings and network reach."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import environment, named, of_kind
from trademesh.services.core.settings import ENV_PREFIX
from trademesh.services.trade.settings import TradeSettings


def _container(cron: dict[str, Any]) -> dict[str, Any]:
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_the_expiry_job_runs_after_the_close_with_the_trade_services_settings(default_objects: Objects) -> None:
    cron = named(default_objects, "CronJob", "trademesh-trade-expiry")
    assert cron["spec"]["schedule"] == "30 18 * * *"
    assert cron["spec"]["timeZone"] == "Asia/Kolkata"  # 18:30 IST = 13:00 UTC, after the 15:30 close
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "trademesh-trade"
    container = _container(cron)
    assert container["args"] == ["trademesh.services.trade.expiry"]
    trade = named(default_objects, "Deployment", "trademesh-trade")
    (trade_container,) = trade["spec"]["template"]["spec"]["containers"]
    assert container["image"] == trade_container["image"]
    variables = environment(default_objects, container)
    fields = {ENV_PREFIX + name.upper(): info for name, info in TradeSettings.model_fields.items()}
    assert not sorted(set(variables) - set(fields)), "the job sets a variable TradeSettings does not read"
    for variable, info in fields.items():
        assert variable in variables or not info.is_required(), variable
    assert (
        variables["TRADEMESH_TOKEN_SECRET"] == environment(default_objects, trade_container)["TRADEMESH_TOKEN_SECRET"]
    )


def test_the_expiry_job_reaches_the_databases_under_the_trade_policy(default_objects: Objects) -> None:
    policy = named(default_objects, "NetworkPolicy", "trademesh-trade")
    (selector,) = policy["spec"]["podSelector"]["matchExpressions"]
    assert selector["values"] == ["trade", "trade-expiry"]
    # The job is no caller of trade's gRPC port.
    for rule in policy["spec"]["ingress"]:
        for source in rule.get("from", []):
            for expression in source["podSelector"].get("matchExpressions", []):
                assert "trade-expiry" not in expression["values"]


def test_the_expiry_job_can_be_turned_off_and_given_a_prices_url(k8s_tools: None) -> None:
    off = render.load_objects(render.helm_template("--set", "cronJobs.tradeExpiry.enabled=false"))
    assert "trademesh-trade-expiry" not in {c["metadata"]["name"] for c in of_kind(off, "CronJob")}
    url = "https://reference.example.com/settlement.csv"
    configured = render.load_objects(
        render.helm_template("--set", f"cronJobs.tradeExpiry.env.TRADEMESH_SETTLEMENT_PRICES_URL={url}")
    )
    variables = environment(configured, _container(named(configured, "CronJob", "trademesh-trade-expiry")))
    assert variables["TRADEMESH_SETTLEMENT_PRICES_URL"] == url
    # Only TRADEMESH_* variables (the schema says so): a typo'd name fails the render.
    with pytest.raises(subprocess.CalledProcessError) as failed:
        render.helm_template("--set", "cronJobs.tradeExpiry.env.SETTLEMENT_URL=x")
    assert "SETTLEMENT_URL" in failed.value.stderr


def test_no_expiry_job_without_the_trade_service(k8s_tools: None) -> None:
    objects = render.load_objects(render.helm_template("--set", "trade.create=false"))
    assert "trademesh-trade-expiry" not in {c["metadata"]["name"] for c in of_kind(objects, "CronJob")}
