"""The chart gives auth the SMTP server it sends verification and reset codes through (decision 0135)."""

from __future__ import annotations

from tests.k8s import render
from tests.k8s.objects import environment, named


def test_auth_and_notifications_share_one_smtp_server_and_login(k8s_tools: None) -> None:
    objects = render.load_objects(
        render.helm_template(
            "--set", "notifications.smtp.host=smtp.example.com", "--set", "notifications.smtp.port=465",
            "--set", "notifications.smtp.security=tls", "--set", "notifications.smtp.existingSecret=mail-login",
        )
    )  # fmt: skip
    variables: dict[str, dict[str, object]] = {}
    for service in ("auth", "notifications"):
        (container,) = named(objects, "Deployment", f"trademesh-{service}")["spec"]["template"]["spec"]["containers"]
        variables[service] = environment(objects, container)
        assert variables[service]["TRADEMESH_SMTP_HOST"] == "smtp.example.com"
        assert variables[service]["TRADEMESH_SMTP_PORT"] == "465"
        assert variables[service]["TRADEMESH_SMTP_SECURITY"] == "tls"
        password = variables[service]["TRADEMESH_SMTP_PASSWORD"]
        assert password == {"secretKeyRef": {"name": "mail-login", "key": "password"}}
    assert variables["auth"]["TRADEMESH_MAIL_FROM"] == "trademesh <accounts@trademesh.local>"
    assert variables["notifications"]["TRADEMESH_MAIL_FROM"] == "trademesh <notifications@trademesh.local>"
    # auth may reach the SMTP server: its NetworkPolicy lets 465 out.
    policy = named(objects, "NetworkPolicy", "trademesh-auth")
    ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])}
    assert {587, 465} <= ports
