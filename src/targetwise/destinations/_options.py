"""Option parsing shared by the generic destinations (webhook, files): one ConfigError line per bad option."""

from __future__ import annotations

import re

from targetwise.errors import ConfigError
from targetwise.schema import CONSENT_PURPOSES

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def check_known(kind: str, options: dict[str, str], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"{kind} destination: unknown option(s) {unknown}; it takes {sorted(known)}",
            fix=f"drop {unknown[0]!r} or check its spelling",
        )


def required(kind: str, options: dict[str, str], name: str, fix: str) -> str:
    value = (options.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{kind} destination needs the option {name!r}", fix=fix)
    return value


def flag(kind: str, options: dict[str, str], name: str, *, default: bool) -> bool:
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    try:
        return _YES[raw.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"{kind} destination: option {name!r} must be yes or no, got {raw!r}", fix=f"pass {name}=yes or {name}=no"
        ) from None


def purpose(kind: str, options: dict[str, str], *, default: str) -> str:
    value = (options.get("purpose") or default).strip()
    if value not in CONSENT_PURPOSES or value == "profiling":
        allowed = [p for p in CONSENT_PURPOSES if p != "profiling"]
        raise ConfigError(
            f"{kind} destination: consent purpose {value!r} is not a contact channel; expected one of {allowed}",
            fix="pass --purpose email, sms or ads (profiling objectors are always removed)",
        )
    return value


def env_name(kind: str, value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ConfigError(
            f"{kind} destination: {value!r} is not an environment variable name",
            fix="pass the NAME of the variable that holds the secret (e.g. --secret-env TARGETWISE_WEBHOOK_SECRET), "
            "never the secret itself",
        )
    return value
