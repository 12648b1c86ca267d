"""Services that sign tokens refuse a missing, published or short secret outside dev mode (issue 20, item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from trademesh.services.core.settings import DEV_TOKEN_SECRET, SettingsError, load_settings
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.trade.settings import TradeSettings


@pytest.mark.parametrize("settings_type", [TradeSettings, MarketDataSettings])
@pytest.mark.parametrize(
    ("secret", "why"),
    [("", "is required"), (DEV_TOKEN_SECRET, "published development secret"), ("short-but-random-x9", "too short")],
)
def test_a_weak_secret_stops_the_service(
    monkeypatch: pytest.MonkeyPatch, settings_type: type[Any], secret: str, why: str
) -> None:
    monkeypatch.setenv("TRADEMESH_TOKEN_SECRET", secret)

    with pytest.raises(SettingsError) as error:
        load_settings(settings_type)

    assert "TRADEMESH_TOKEN_SECRET" in str(error.value)
    assert why in str(error.value)
    if secret:
        assert secret not in str(error.value)  # the value is never echoed


def test_dev_mode_accepts_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEMESH_DEV_MODE", "true")
    monkeypatch.delenv("TRADEMESH_TOKEN_SECRET", raising=False)

    settings = load_settings(TradeSettings)

    assert settings.token_secret.get_secret_value() == DEV_TOKEN_SECRET


def test_a_strong_secret_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    strong = "k" * 16 + "7Qx_r2Lm9Zp0vW4s"
    monkeypatch.setenv("TRADEMESH_TOKEN_SECRET", strong)

    assert load_settings(MarketDataSettings).token_secret.get_secret_value() == strong


def test_the_trade_process_with_the_published_secret_exits_with_a_clear_message(
    core_settings: Callable[..., dict[str, Any]],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEMESH_")}
    env |= {f"TRADEMESH_{key.upper()}": str(value) for key, value in core_settings().items()}
    env["TRADEMESH_TOKEN_SECRET"] = DEV_TOKEN_SECRET

    result = subprocess.run(
        [sys.executable, "-m", "trademesh.services.trade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "TRADEMESH_TOKEN_SECRET" in result.stderr
    assert "published development secret" in result.stderr
    assert DEV_TOKEN_SECRET not in result.stderr
