"""``load_config``: defaults < a TOML file or mapping < ``ZBUS_*`` environment variables < keywords.

Precedence, lowest first: defaults < TOML file or mapping (or the file named by ``ZBUS_CONFIG``) <
``ZBUS_<SECTION>__<KEY>`` environment variables < ``overrides``. Each layer is checked on its own, so an
error names its source, the dotted key, the bad value and what is expected. Reads only the file and the
environment mapping it is given.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .sections import Config
from .values import _build, _convert, _Section, _section_of

__all__ = ["load_config"]


def _layer(raw: Mapping[Any, Any], cls: type[_Section], prefix: str, origin: str, text: bool) -> Any:
    """Check one source's raw mapping against ``cls``; return the converted values as nested dicts."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted, f = f"{prefix}{key}", fields.get(key)
        if f is None:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            what = "key" if prefix else "section"
            raise ConfigError(f"{origin}: unknown {what} {dotted}{hint} (valid: {', '.join(fields)})")
        if (section := _section_of(f)) is None:
            out[key] = _convert(f.metadata["conv"], value, origin, dotted, text)
        elif isinstance(value, Mapping):
            out[key] = _layer(value, section, dotted + ".", origin, text)
        else:
            raise ConfigError(f"{origin}: {dotted} = {value!r}: expected a table of {dotted}.* settings")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def _read_toml(path: str | os.PathLike[str], via: str) -> dict[str, Any]:
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:  # FileNotFoundError, IsADirectoryError, PermissionError
        raise ConfigError(f"cannot read config file {name}{via}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a :class:`Config`: defaults < ``source`` < ``ZBUS_*`` environment variables < ``overrides``.

    Layers merge key by key, so each changes only what it names (a ``by_prefix`` table is replaced whole).

    Args:
        source: a TOML file path; a nested mapping such as ``{"queue": {"max_size": 500}}``; a ``Config``,
            returned with only ``overrides`` applied (the environment is ignored); or ``None`` for the file
            named by ``ZBUS_CONFIG``, if set.
        env: the environment; ``None`` means ``os.environ``. ``ZBUS_<SECTION>__<KEY>`` sets a key (any case):
            ``ZBUS_QUEUE__MAX_SIZE=500``, ``ZBUS_MONITORING__HTTP__PORT=8081``, ``ZBUS_DISCOVERY__PEERS=
            tcp://a:1,tcp://b:2``, ``ZBUS_PERSISTENCE__RETENTION__BY_PREFIX=audit=90d,debug=1d``; booleans
            take true/false, 1/0, yes/no, on/off. ``ZBUS_*`` names without ``__``, or whose first part
            is not a section name, are not settings and are ignored.
        overrides: a nested mapping applied last, e.g. ``{"persistence": {"enabled": True}}``.

    Raises:
        ConfigError: the file is missing or not TOML; a section or key is unknown (the closest is
            suggested); or a value has the wrong type or range. The message names the source (the file path,
            ``environment variable ZBUS_...`` or ``keyword argument``), the dotted key, value and expectation.
    """
    environ = os.environ if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    if isinstance(source, Config):
        if not overrides:
            return source
        layers.append(("Config", source.to_dict()))
    else:
        via = " (from ZBUS_CONFIG)" if source is None and environ.get("ZBUS_CONFIG") else ""
        source = environ["ZBUS_CONFIG"] if via else source
        if isinstance(source, Mapping):
            layers.append(("config mapping", _layer(source, Config, "", "config mapping", text=False)))
        elif source is not None:
            name = os.fspath(source)
            layers.append((name, _layer(_read_toml(source, via), Config, "", name, text=False)))
        sections = {f.name for f in dataclasses.fields(Config)}
        for var, value in sorted(environ.items()):
            # ZBUS_<SECTION>__<KEY> with a known section is a setting (and a typo in KEY is an error);
            # other ZBUS_X__Y names belong to the application (e.g. ZBUS_ADMIN__TOKEN) and are left alone
            if var.upper().startswith("ZBUS_") and "__" in var and var[5:].split("__")[0].lower() in sections:
                nested: Any = value
                for part in reversed(var[5:].lower().split("__")):
                    nested = {part: nested}
                origin = f"environment variable {var}"
                layers.append(("environment", _layer(nested, Config, "", origin, text=True)))
    if overrides:
        layers.append(("keyword argument", _layer(overrides, Config, "", "keyword argument", text=False)))
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _merge(merged, layer)
    try:
        config: Config = _build(Config, merged)
    except ConfigError as exc:  # a cross-field rule: name every layer that contributed
        raise ConfigError(f"{' + '.join(dict.fromkeys(o for o, _ in layers))}: {exc}") from None
    return config
