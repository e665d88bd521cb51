"""Loading the configuration: each setting of the table (settings.py) checked and coerced, from where it came.

Load order: defaults, then a YAML file (``--config FILE`` or ``PAYGATE_CONFIG``),
then environment variables ``PAYGATE_<SECTION>__<KEY>``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from .settings import BY_NAME, SECTIONS, SETTINGS, Setting

ENV_PREFIX = "PAYGATE_"


class ConfigError(Exception):
    """A configuration problem, reported as one line naming the key."""


class Config(SimpleNamespace):
    """Settings as ``config.section.key``; ``config.get("section.key")`` too."""

    def get(self, name: str) -> Any:
        section, key = name.split(".")
        return getattr(getattr(self, section), key)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``section__key=value`` changes applied and validated."""
        values = self.as_dict()
        for dunder, value in changes.items():
            section, key = dunder.split("__")
            values[f"{section}.{key}"] = value
        return build(values, check_required=True)

    def as_dict(self) -> dict[str, Any]:
        return {s.name: self.get(s.name) for s in SETTINGS}


def mask_url(url: str | None) -> str:
    """The URL with its password replaced by ***."""
    if not url:
        return str(url)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable url>"


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    """Check and convert one value; raise ConfigError naming the key."""
    name, kind = setting.name, setting.type
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # an empty value means "not set"
    from_text = isinstance(value, str) and source == "env"
    try:
        if kind in ("str", "url", "choice"):
            if not isinstance(value, str):
                raise TypeError
            value = value.strip()
        elif kind == "int":
            if from_text:
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif kind == "float":
            if from_text:
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            value = float(value)
        elif kind == "bool":
            if from_text:
                lowered = value.lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise TypeError
                value = lowered in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise TypeError
        elif kind == "list[float]":
            if from_text:
                value = [float(v) for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            ):
                raise TypeError
            value = [float(v) for v in value]
        elif kind == "list[network]":
            value = _networks(setting, value, source)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {kind}, got {value!r} (from {source})") from None

    if setting.minimum is not None and kind in ("int", "float") and value < setting.minimum:
        raise ConfigError(f"{name}: must be at least {setting.minimum:g}, got {value!r} (from {source})")
    if kind == "choice" and value not in setting.choices:
        raise ConfigError(f"{name}: must be one of {', '.join(setting.choices)}, got {value!r} (from {source})")
    if kind == "url":
        _check_url(setting, value, source)
    return value


def _networks(setting: Setting, value: Any, source: str) -> list[str]:
    """CIDR networks (a bare address is its own /32 or /128), normalized; a comma-separated string from env."""
    if isinstance(value, str) and source == "env":
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError
    networks = []
    for text in value:
        try:
            networks.append(str(ipaddress.ip_network(text.strip())))
        except ValueError as exc:  # e.g. "10.0.0.1/8 has host bits set": say which entry
            raise ConfigError(f"{setting.name}: {text!r} is not a network: {exc} (from {source})") from None
    return networks


def _check_url(setting: Setting, value: str, source: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{setting.name}: unparsable URL {mask_url(value)!r}: {exc} (from {source})") from None
    if parts.scheme not in setting.schemes:
        raise ConfigError(
            f"{setting.name}: URL scheme must be one of {', '.join(setting.schemes)}, "
            f"got {mask_url(value)!r} (from {source})"
        )
    if parts.scheme != "unix" and not parts.netloc and "host=" not in parts.query:
        raise ConfigError(f"{setting.name}: URL has no host: {mask_url(value)!r} (from {source})")


def _flatten_yaml(data: Any, path: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    flat: dict[str, Any] = {}
    for section, keys in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{section}: unknown section (in {path})")
        if keys is None:
            continue
        if not isinstance(keys, dict):
            raise ConfigError(f"{section}: expected a mapping of keys (in {path})")
        for key, value in keys.items():
            name = f"{section}.{key}"
            if name not in BY_NAME:
                raise ConfigError(f"{name}: unknown key (in {path})")
            flat[name] = value
    return flat


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        return _flatten_yaml(yaml.safe_load(text), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}:{where} is not valid YAML") from None


def _read_env(environ: dict[str, str]) -> dict[str, str]:
    flat = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var or var == "PAYGATE_CONFIG":
            continue
        section, _, key = var[len(ENV_PREFIX):].lower().partition("__")
        name = f"{section}.{key}"
        if section.startswith("test_"):
            continue  # PAYGATE_TEST_* belongs to the test harness
        if name not in BY_NAME:
            raise ConfigError(f"{name}: unknown key (from environment {var})")
        flat[name] = value
    return flat


def build(values: dict[str, Any], *, check_required: bool, sources: dict[str, str] | None = None) -> Config:
    """Validate flat ``{"section.key": value}`` values over the defaults into a Config."""
    sources = sources or {}
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for setting in SETTINGS:
        raw = values.get(setting.name, setting.default)
        value = _coerce(setting, raw, sources.get(setting.name, "default"))
        if check_required and setting.required and value in (None, ""):
            raise ConfigError(
                f"{setting.name}: required; set it in the config file or as "
                f"{ENV_PREFIX}{setting.name.replace('.', '__').upper()}"
            )
        section, key = setting.name.split(".")
        merged[section][key] = value
    config = Config(**{section: SimpleNamespace(**keys) for section, keys in merged.items()})
    if config.processor.delay_max < config.processor.delay_min:
        raise ConfigError("processor.delay_max: must not be below processor.delay_min")
    for rate in ("success_rate", "timeout_rate", "failure_rate"):
        if getattr(config.processor, rate) > 1:
            raise ConfigError(f"processor.{rate}: must be between 0 and 1")
    if config.database.min_size > config.database.max_size:
        raise ConfigError("database.min_size: must not exceed database.max_size")
    return config


def load(
    path: str | os.PathLike | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    role_defaults: dict[str, Any] | None = None,
    check_required: bool = True,
) -> Config:
    """Defaults (with ``role_defaults`` over them, e.g. for ``paygate dev``), then the YAML file,
    then the environment, then ``overrides`` (from command-line options)."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = dict(role_defaults or {})
    sources: dict[str, str] = {name: "role default" for name in values}
    path = path or environ.get("PAYGATE_CONFIG") or None
    if path:
        for name, value in _read_yaml(path).items():
            values[name], sources[name] = value, f"file {path}"
    for name, value in _read_env(environ).items():
        values[name] = value
        sources[name] = "env"
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name], sources[name] = value, "option"
    return build(values, check_required=check_required, sources=sources)


# What a section's settings do not say: written above it in config.example.yaml.
