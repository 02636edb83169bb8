"""The configuration files shipped inside the package, and a Config written back as commented TOML.

``default.toml`` lists every key with its default and a comment; ``development.toml`` and
``production.toml`` change a few keys. They install with the package (package data next to this
module), so ``zbus config init`` and ``zbus config show --toml`` work from a wheel, without a source
checkout. :func:`render_toml` writes any ``Config`` as TOML with every key: it walks ``default.toml``
line by line, keeps each key's line (and comment) where the value is the default, and writes the
value where it is not, so the output loads back to the same ``Config``.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigError
from .sections import Config

__all__ = ["PROFILES", "profile_path", "render_toml"]

#: the shipped profiles, ``zbus config init --profile NAME``
PROFILES: Final = ("default", "development", "production")


def profile_path(name: str) -> Path:
    """The installed TOML file of profile ``name`` (one of :data:`PROFILES`).

    Raises:
        ConfigError: ``name`` is not a shipped profile, or its file is missing from the installation.
    """
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}: expected one of {', '.join(PROFILES)}")
    path = Path(__file__).with_name(f"{name}.toml")
    if not path.is_file():
        raise ConfigError(f"{path} is missing: this zbus installation is incomplete; reinstall it")
    return path


def _split(line: str) -> tuple[str, str]:
    """``key = value  # comment`` -> (``key = value``, ``  # comment``); a ``#`` inside a string stays."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            code = line[:i].rstrip()
            return code, line[len(code) :]
        i += 1
    return line.rstrip(), ""


def _value(value: Any) -> str:
    """``value`` (as ``Config.to_dict`` gives it) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))  # durations in whole seconds read better as 60 than 60.0
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as a TOML value")


def _key(text: str) -> str:
    return text if text.replace("_", "").replace("-", "").isalnum() else json.dumps(text)


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def _comments(path: Path | None) -> dict[str, str]:
    """dotted key -> its trailing comment in the TOML file at ``path`` (tables and keys)."""
    found: dict[str, str] = {}
    if path is None:
        return found
    table = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        code, comment = _split(line)
        if code.startswith("["):
            table = code.strip("[] ")
        elif "=" in code and comment:
            found[f"{table}.{code.split('=', 1)[0].strip()}"] = comment.strip()
    return found


def render_toml(config: Config, *, header: str = "", comments_from: Path | None = None) -> str:
    """``config`` as TOML with every key, commented; ``load_config`` of the text gives ``config`` back.

    Args:
        config: the configuration to write.
        header: comment lines (without ``#``) put first, e.g. which command wrote the file.
        comments_from: a profile file whose comment replaces the default one on the keys it sets.

    Raises:
        ConfigError: the shipped ``default.toml`` is missing.
    """
    template = profile_path("default").read_text(encoding="utf-8").splitlines()
    values, defaults = config.to_dict(), Config().to_dict()
    own = _comments(comments_from)
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    if header:  # the template's own opening comment says "every key with its default": not so here
        template = template[next(i for i, line in enumerate(template) if not line.strip()) :]
    table = ""
    for line in template:
        code, comment = _split(line)
        if code.startswith("["):
            table = code.strip("[] ")
            out.append(line)
            if table == "persistence.retention.by_prefix":
                mine, theirs = _lookup(values, table), _lookup(defaults, table)
                if mine != theirs:  # a replaced table: write its entries instead of the template's
                    out.extend(f"{_key(k)} = {_value(v)}" for k, v in mine.items())
            continue
        if not code or "=" not in code or code.startswith("#"):
            out.append(line)
            continue
        name = code.split("=", 1)[0].strip()
        if table == "persistence.retention.by_prefix":
            if _lookup(values, table) == _lookup(defaults, table):
                out.append(line)
            continue
        dotted = f"{table}.{name}"
        value = _lookup(values, dotted)
        if value == _lookup(defaults, dotted):
            out.append(line)
            continue
        text = f"{name} = {_value(value)}"
        default = _value(_lookup(defaults, dotted))
        note = f"{own.get(dotted) or comment.strip() or '#'} (default: {default})"
        out.append(f"{text:<32} {note}")
    text = "\n".join(out) + "\n"
    _check(text, config)
    return text


def _check(text: str, config: Config) -> None:
    """The written text must load back to ``config`` (a bug here would write a wrong file silently)."""
    from .loading import load_config

    try:
        again = load_config(tomllib.loads(text), env={})
    except (tomllib.TOMLDecodeError, ConfigError) as exc:  # pragma: no cover - a bug in render_toml
        raise ConfigError(f"internal error: rendered TOML does not load ({exc}); please report it") from exc
    if again != config:  # pragma: no cover - a bug in render_toml
        raise ConfigError("internal error: rendered TOML loads to another configuration; please report it")
