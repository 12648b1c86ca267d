"""Print every service setting as a Markdown table (the README's configuration section).

Run `python -m trademesh.devstack.settings_doc`; a test checks the README lists every variable.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings

from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.settings import ENV_PREFIX, CoreSettings

# One entry per settings class; a service adds its own here.
SETTINGS: dict[str, type[BaseSettings]] = {
    "all services": CoreSettings,
    "auth": AuthSettings,
}


def own_fields(settings_type: type[BaseSettings]) -> list[str]:
    """Return the fields a settings class adds to (or redefines from) CoreSettings."""
    if settings_type is CoreSettings:
        return list(CoreSettings.model_fields)
    return [name for name in settings_type.model_fields if name not in CoreSettings.model_fields]


def environment_names() -> set[str]:
    """Return every environment variable any service reads."""
    return {ENV_PREFIX + name.upper() for settings in SETTINGS.values() for name in settings.model_fields}


def markdown() -> str:
    """Render the settings as one table per scope."""
    lines: list[str] = []
    for scope, settings_type in SETTINGS.items():
        lines += [f"**{scope}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for name in own_fields(settings_type):
            field = settings_type.model_fields[name]
            default = "*(required)*" if field.is_required() else f"`{field.get_default()}`"
            lines.append(f"| `{ENV_PREFIX}{name.upper()}` | {default} | {field.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
