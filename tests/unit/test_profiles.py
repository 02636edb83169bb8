"""The configuration profiles shipped inside the package, and Config written back as commented TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import zbus.config
from zbus.config import Config, load_config
from zbus.config.profiles import PROFILES, profile_path, render_toml
from zbus.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", PROFILES)
def test_the_package_ships_each_profile_as_the_checkout_has_it(name: str) -> None:
    shipped = profile_path(name)
    assert shipped.parent == Path(zbus.config.__file__).parent
    assert shipped.read_bytes() == (ROOT / "config" / f"{name}.toml").read_bytes()


def test_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="default, development, production"):
        profile_path("staging")


@pytest.mark.parametrize("name", PROFILES)
def test_rendered_profile_has_every_key_and_loads_back(name: str) -> None:
    cfg = load_config(profile_path(name), env={})
    text = render_toml(cfg, header="test", comments_from=profile_path(name))
    assert load_config(tomllib.loads(text), env={}) == cfg
    every = tomllib.loads(profile_path("default").read_text())
    assert _leaves(tomllib.loads(text)) == _leaves(every)


def test_changed_values_are_written_and_say_the_default() -> None:
    cfg = load_config(
        {
            "mesh": {"name": "orders"},
            "discovery": {"scope": "static", "peers": ["tcp://zbus-0.zbus:7001", "tcp://10.0.0.5:7001"]},
            "transport": {"linger": 0.25, "max_message_size": 4096},
            "persistence": {"retention": {"by_prefix": {"audit.eu": "30d"}}},
        },
        env={},
    )
    text = render_toml(cfg)
    assert load_config(tomllib.loads(text), env={}) == cfg
    lines = text.splitlines()
    assert any(line.startswith('name = "orders"') and '(default: "default")' in line for line in lines)
    assert any(line.startswith('peers = ["tcp://zbus-0.zbus:7001", "tcp://10.0.0.5:7001"]') for line in lines)
    assert any(line.startswith("linger = 0.25") for line in lines)
    assert '"audit.eu" = 2592000' in lines
    assert 'audit = "90d"                    # audit and audit.* topics' not in lines
    # unchanged keys keep the template's own spelling and comment
    assert 'heartbeat_interval = "1s"        # time between heartbeats' in lines


def test_a_string_with_a_hash_and_quotes_survives() -> None:
    cfg = load_config({"persistence": {"path": '/data/#1 "journal"'}}, env={})
    assert load_config(tomllib.loads(render_toml(cfg)), env={}) == cfg


def _leaves(tree: dict[str, object], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict) and not prefix.endswith("by_prefix."):
            if key == "by_prefix":
                out.add(prefix + key)
                continue
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_default_config_renders_to_the_template_itself() -> None:
    template = profile_path("default").read_text()
    assert render_toml(Config()) == template
