"""The chart's daily digest CronJob (`cronJobs.notificationsDigest`): schedule, settings, token and reach."""

from __future__ import annotations

from typing import Any

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import environment, named, of_kind
from trademesh.services.core.settings import ENV_PREFIX
from trademesh.services.notifications.settings import NotificationsSettings

NAME = "trademesh-notifications-digest"


def _pod(cron: dict[str, Any]) -> dict[str, Any]:
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert isinstance(pod, dict)
    return pod


def test_the_digest_runs_after_the_close_on_weekdays_with_the_notifications_settings(
    default_objects: Objects,
) -> None:
    cron = named(default_objects, "CronJob", NAME)
    assert cron["spec"]["schedule"] == "15 16 * * 1-5"
    assert cron["spec"]["timeZone"] == "Asia/Kolkata"  # 16:15 IST = 10:45 UTC, Monday to Friday
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod(cron)
    assert pod["serviceAccountName"] == "trademesh-notifications"
    (container,) = pod["containers"]
    assert container["args"] == ["trademesh.services.notifications.digest"]
    service = named(default_objects, "Deployment", "trademesh-notifications")
    (service_container,) = service["spec"]["template"]["spec"]["containers"]
    assert container["image"] == service_container["image"]
    variables = environment(default_objects, container)
    fields = {ENV_PREFIX + name.upper(): info for name, info in NotificationsSettings.model_fields.items()}
    assert not sorted(set(variables) - set(fields)), "the job sets a variable NotificationsSettings does not read"
    assert variables["TRADEMESH_ANALYTICS_TARGET"] == "dns:///trademesh-analytics-headless:50051"
    assert variables["TRADEMESH_SMTP_HOST"] == environment(default_objects, service_container)["TRADEMESH_SMTP_HOST"]
    # The service token is a mounted file from its Secret (re-read by the job; never a literal value).
    token_file = variables["TRADEMESH_SERVICE_TOKEN_FILE"]
    assert token_file == "/var/run/secrets/trademesh/service-token/token"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "service-token"]
    assert token_file.startswith(mount["mountPath"] + "/")
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == "service-token"]
    assert volume["secret"]["secretName"] == "trademesh-notifications-service-token"


def test_the_digest_reaches_analytics_and_the_databases(default_objects: Objects, k8s_tools: None) -> None:
    own = named(default_objects, "NetworkPolicy", "trademesh-notifications")
    (selector,) = own["spec"]["podSelector"]["matchExpressions"]
    assert selector["values"] == ["notifications", "notifications-digest"]
    analytics = named(default_objects, "NetworkPolicy", "trademesh-analytics")
    callers = [
        value
        for rule in analytics["spec"]["ingress"]
        for source in rule.get("from", [])
        for expression in source["podSelector"].get("matchExpressions", [])
        for value in expression["values"]
    ]
    assert "notifications-digest" in callers
    # With the trial databases in the cluster, their policies admit the job.
    trial = render.load_objects(
        render.helm_template("--set", "mongodb.inCluster.enabled=true", "--set", "redis.inCluster.enabled=true")
    )
    for store in ("trademesh-mongodb", "trademesh-redis"):
        (rule,) = named(trial, "NetworkPolicy", store)["spec"]["ingress"]
        assert "notifications-digest" in rule["from"][0]["podSelector"]["matchExpressions"][0]["values"]


def test_the_digest_can_be_turned_off_and_needs_notifications_and_analytics(k8s_tools: None) -> None:
    for flag in ("cronJobs.notificationsDigest.enabled=false", "analytics.create=false", "notifications.create=false"):
        objects = render.load_objects(render.helm_template("--set", flag))
        assert NAME not in {cron["metadata"]["name"] for cron in of_kind(objects, "CronJob")}, flag
    named_secret = render.load_objects(
        render.helm_template("--set", "secrets.notificationsServiceToken.existingSecret=ops-digest-token")
    )
    [volume] = [v for v in _pod(named(named_secret, "CronJob", NAME))["volumes"] if v["name"] == "service-token"]
    assert volume["secret"]["secretName"] == "ops-digest-token"
