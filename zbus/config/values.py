"""Setting values: units (durations, sizes), the converters that check one key, and the section base.

Pure: only the stdlib and :mod:`zbus.errors`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import ConfigError

# fmt: off
__all__ = ["default_journal_path", "parse_duration", "parse_size"]
_DAY, _KIB, _MIB, _GIB = 86_400.0, 1024, 1024**2, 1024**3
_DURATION_UNITS = {"": (1, 1), "ms": (1, 1000), "s": (1, 1), "m": (60, 1), "h": (3600, 1), "d": (86_400, 1)}
_SIZE_UNITS = {"": 1, "b": 1, "k": _KIB, "kib": _KIB, "kb": 1000, "m": _MIB, "mib": _MIB, "mb": 10**6,
               "g": _GIB, "gib": _GIB, "gb": 10**9, "t": 1024**4, "tib": 1024**4, "tb": 10**12}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True,
               "false": False, "0": False, "no": False, "off": False}
# fmt: on
_NUMBER_UNIT = re.compile(r"\s*(\d[\d_]*(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")
_DURATION_HINT = "seconds, or a string like 250ms, 1.5s, 5m, 2h, 7d"
_SIZE_HINT = "bytes, or a string like 512KiB, 100MB, 1GiB"
_ENDPOINT = r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}|ipc://\S+"
#: a static peer: an endpoint, with the peer's CURVE public key (Z85) when security is on
_PEER = rf"(?:{_ENDPOINT})(?:#key=\S{{40}})?"


def parse_duration(value: object) -> float:
    """Return float seconds from seconds (a number) or a string like ``"250ms"``, ``"1.5s"``, ``"7d"``.

    Units are ms, s, m, h and d (any case); a bare number string such as ``"0.5"`` is seconds.

    Raises:
        ConfigError: ``value`` is not a duration, is negative or is not finite.
    """
    match = _NUMBER_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match and match[2].lower() in _DURATION_UNITS:
        mul, div = _DURATION_UNITS[match[2].lower()]
        seconds = float(match[1]) * mul / div
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(f"invalid duration {value!r}: expected {_DURATION_HINT}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(f"invalid duration {value!r}: expected a finite duration ≥ 0")
    return seconds


def parse_size(value: object) -> int:
    """Return int bytes from bytes (a number) or a string like ``"512KiB"``, ``"100MB"``, ``"1GiB"``.

    KiB/MiB/GiB/TiB and bare K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000 (any case); "1.5K" is 1536.

    Raises:
        ConfigError: ``value`` is not a size or is negative.
    """
    match = _NUMBER_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match and match[2].lower() in _SIZE_UNITS:
        number = float(match[1]) if "." in match[1] else int(match[1])
        return int(number * _SIZE_UNITS[match[2].lower()])
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 and value == int(value):
        return int(value)
    raise ConfigError(f"invalid size {value!r}: expected a non-negative size: {_SIZE_HINT}")


def default_journal_path(node_name: str, env: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_DATA_HOME/zbus/<node_name>``, or ``~/.local/share/zbus/<node_name>`` without it.

    ``XDG_DATA_HOME`` (used only if absolute) and ``HOME`` come from ``env``; ``None`` means ``os.environ``.

    Raises:
        ConfigError: ``node_name`` is empty, ``.`` or ``..``, or contains ``/``, ``\\`` or NUL.
    """
    environ = os.environ if env is None else env
    if node_name in {"", ".", ".."} or any(c in node_name for c in "/\\\0"):
        raise ConfigError(f"node name {node_name!r} cannot name a journal directory; use e.g. 'orders-1'")
    base = environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(environ.get("HOME") or str(Path.home()), ".local", "share")
    return Path(base) / "zbus" / node_name


class _Bad(Exception):
    """A converter rejected a value; ``args[0]`` says what was expected."""


_Conv = Callable[[Any, bool], Any]  # (value, value_is_environment_text) -> normalised value
_Order = tuple[tuple[str, str, str], ...]  # (low, high, advice): high ≥ low, or high > low if advice


def _need(ok: object, expected: str) -> None:
    if not ok:
        raise _Bad(expected)


def _num(kind: str, lo: float, hi: float | None = None, bounds: str = "", gt: bool = False) -> _Conv:
    """Converter for an ``"integer"``, ``"duration"`` or ``"size"`` in ``lo..hi`` (``> lo`` if ``gt``)."""
    parse: Callable[[Any], float] = {"duration": parse_duration, "size": parse_size}.get(kind, int)
    bounds = bounds or (f"> {lo:g}" if gt else f"≥ {lo:g}" if hi is None else f"in {lo:g}..{hi:g}")
    hint = {"integer": "", "duration": f": {_DURATION_HINT}", "size": f": {_SIZE_HINT}"}[kind]
    expected = f"{'an' if kind == 'integer' else 'a'} {kind} {bounds}{hint}"

    def conv(value: Any, text: bool) -> Any:
        try:
            _need(kind != "integer" or type(value) is int or (text and isinstance(value, str)), expected)
            number = parse(value)
        except (ConfigError, ValueError):
            raise _Bad(expected) from None
        _need((number > lo if gt else number >= lo) and (hi is None or number <= hi), expected)
        return number

    return conv


_positive_duration = _num("duration", 0, gt=True)


def _bool(value: Any, text: bool) -> Any:
    if text and isinstance(value, str):
        value = _BOOL_WORDS.get(value.strip().lower(), value)
    _need(isinstance(value, bool), "true or false" + (" (or 1/0, yes/no, on/off)" if text else ""))
    return value


def _str(
    *choices: str, pattern: str = r".*\S.*", expected: str = "a non-blank string", lower: bool = False
) -> _Conv:
    expected = "one of " + ", ".join(json.dumps(c) for c in choices) if choices else expected

    def conv(value: Any, text: bool) -> Any:
        _need(isinstance(value, str), expected)
        value = value.lower() if lower else value
        _need(value in choices if choices else re.fullmatch(pattern, value, re.DOTALL), expected)
        return value

    return conv


def _strs(pattern: str, expected: str) -> _Conv:
    def conv(value: Any, text: bool) -> Any:
        if text and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        _need(isinstance(value, list | tuple), expected)
        _need(all(isinstance(v, str) and re.fullmatch(pattern, v) for v in value), expected)
        return tuple(value)

    return conv


def _ttl_table(value: Any, text: bool) -> Any:
    expected = 'a table of topic prefix = duration > 0, like {audit = "90d"} (env: audit=90d,debug=1d)'
    if text and isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        _need(all(sep for _, sep, _ in pairs), expected)
        value = {prefix.strip(): ttl.strip() for prefix, _, ttl in pairs}
    _need(isinstance(value, Mapping), expected)
    _need(all(isinstance(p, str) and re.fullmatch(r"[^.\s]+(\.[^.\s]+)*", p) for p in value), expected)
    try:
        return MappingProxyType({prefix: _positive_duration(ttl, text) for prefix, ttl in value.items()})
    except _Bad:
        raise _Bad(expected) from None


def _opt(default: Any, conv: _Conv) -> Any:
    return field(default=default, metadata={"conv": conv})


def _convert(conv: _Conv, value: Any, origin: str, key: str, text: bool) -> Any:
    try:
        return conv(value, text)
    except _Bad as exc:
        shown = json.dumps(value, ensure_ascii=False, default=repr)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ConfigError(f"{origin}{': ' if origin else ''}{key} = {shown}: expected {exc}") from None


class _Section:
    """Base of the settings dataclasses: every field is validated and normalised on construction."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    _key: ClassVar[str] = ""  # dotted section name, for messages
    _ordered: ClassVar[_Order] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if (conv := f.metadata.get("conv")) is not None:
                value = getattr(self, f.name)
                new = _convert(conv, value, "", f"{self._key}.{f.name}", text=False)
                if new is not value:
                    object.__setattr__(self, f.name, new)
        for low, high, advice in self._ordered:
            a, b, key = getattr(self, low), getattr(self, high), self._key
            if b < a or (b == a and advice):
                rule = "greater than" if advice else "≥"
                raise ConfigError(f"{key}.{high} = {b:g} must be {rule} {key}.{low} = {a:g}{advice}")

    def __reduce__(self) -> tuple[Any, ...]:  # by_prefix's mapping proxy cannot be pickled as is
        return (_build, (type(self), self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """Return plain nested dicts, lists and scalars (durations in seconds) that load_config accepts."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Section):
                value = value.to_dict()
            elif isinstance(value, Mapping | tuple):
                value = dict(value) if isinstance(value, Mapping) else list(value)
            out[f.name] = value
        return out


def _section_of(f: dataclasses.Field[Any]) -> type[_Section] | None:
    factory = f.default_factory
    return factory if isinstance(factory, type) and issubclass(factory, _Section) else None


def _build(cls: type[_Section], data: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if (section := _section_of(f)) is not None:
            kwargs[f.name] = _build(section, data.get(f.name, {}))
        elif f.name in data:
            kwargs[f.name] = data[f.name]
    return cls(**kwargs)
