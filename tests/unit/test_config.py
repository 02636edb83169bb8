"""Tests for zbus.config: defaults, layering, every error path, units and the shipped TOML files."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus.config import (
    Config,
    DiscoveryConfig,
    HttpConfig,
    LoggingConfig,
    PersistenceConfig,
    QueueConfig,
    RetentionConfig,
    SecurityConfig,
    TransportConfig,
    default_journal_path,
    load_config,
    parse_duration,
    parse_size,
)
from zbus.errors import ConfigError, UsageError

CONFIG_DIR = Path(__file__).parents[2] / "config"
DAY = 86_400.0


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def leaf_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict) and key != "by_prefix":
            keys |= leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


# --- defaults and shape ---


def test_defaults_match_the_spec() -> None:
    cfg = load_config(env={})
    assert cfg == Config()
    assert cfg.mesh.name == "default"
    assert cfg.transport.max_message_size == 1_048_576
    assert cfg.discovery.scope == "local"
    assert cfg.persistence.map_size == 1024**3
    assert dict(cfg.persistence.retention.by_prefix) == {"audit": 90 * DAY, "debug": DAY}
    assert cfg.persistence.retention.default == 7 * DAY
    assert cfg.queue.priority_levels == 10
    assert cfg.monitoring.http.enabled is False
    assert cfg.monitoring.metrics.enabled is True
    assert cfg.security.curve is False


def test_config_is_frozen_hashable_and_by_prefix_is_read_only() -> None:
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.queue.max_size = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.persistence.retention.by_prefix["audit"] = 1.0  # type: ignore[index]
    assert hash(cfg) == hash(Config())
    assert {cfg, Config()} == {cfg}


def test_pickle_and_copy_round_trip() -> None:
    cfg = load_config({"persistence": {"retention": {"by_prefix": {"a": "1h"}}}}, env={})
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg
    assert pickle.loads(pickle.dumps(cfg.queue)) == cfg.queue


def test_constructors_validate_and_normalise() -> None:
    with pytest.raises(ConfigError, match=r"queue\.max_size = 0: expected an integer ≥ 1"):
        QueueConfig(max_size=0)
    assert LoggingConfig(level="DEBUG").level == "debug"
    assert DiscoveryConfig(peers=["tcp://a:1"]).peers == ("tcp://a:1",)  # type: ignore[arg-type]
    assert TransportConfig(linger="250ms").linger == 0.25  # type: ignore[arg-type]
    assert RetentionConfig(by_prefix={"a.b": "2h"}).by_prefix == {"a.b": 7200.0}  # type: ignore[dict-item]
    assert issubclass(ConfigError, UsageError)
    assert issubclass(ConfigError, ValueError)


# --- shipped files ---


@pytest.mark.parametrize("name", ["default", "development", "production"])
def test_shipped_files_load(name: str) -> None:
    cfg = load_config(CONFIG_DIR / f"{name}.toml", env={})
    assert cfg.discovery.scope == "local"


def test_default_toml_is_exactly_the_defaults_and_lists_every_key() -> None:
    path = CONFIG_DIR / "default.toml"
    assert load_config(path, env={}) == Config()
    with path.open("rb") as fh:
        assert leaf_keys(tomllib.load(fh)) == leaf_keys(Config().to_dict())


def test_development_and_production_profiles() -> None:
    dev = load_config(CONFIG_DIR / "development.toml", env={})
    assert (dev.logging.level, dev.logging.format) == ("debug", "text")
    assert dev.monitoring.http == HttpConfig(enabled=True, port=0)
    assert dev.persistence.enabled is False
    prod = load_config(CONFIG_DIR / "production.toml", env={})
    assert (prod.logging.level, prod.logging.format) == ("info", "json")
    assert (prod.persistence.enabled, prod.persistence.durability) == (True, "sync")
    assert prod.monitoring.http == HttpConfig(enabled=True, host="127.0.0.1", port=8081)


# --- sources and precedence ---


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[queue]\nmax_size = 100\nmax_attempts = 5\n[logging]\nlevel = 'warning'\n")
    env = {"ZBUS_QUEUE__MAX_SIZE": "200", "ZBUS_QUEUE__MAX_ATTEMPTS": "6"}
    cfg = load_config(path, env=env, overrides={"queue": {"max_size": 300}})
    assert (cfg.queue.max_size, cfg.queue.max_attempts, cfg.logging.level) == (300, 6, "warning")
    assert cfg.queue.overflow_policy == "drop_oldest"  # untouched keys keep their defaults


def test_nested_mapping_source() -> None:
    cfg = load_config({"persistence": {"enabled": True, "path": "/tmp/x"}}, env={})
    assert cfg.persistence.enabled is True
    assert cfg.persistence.path == "/tmp/x"
    assert cfg.persistence.journal_path("n1") == Path("/tmp/x")
    assert cfg.persistence.retention == RetentionConfig()


def test_zbus_config_names_the_file_when_source_is_none(tmp_path: Path) -> None:
    path = write(tmp_path, "[mesh]\nname = 'lab'\n")
    assert load_config(env={"ZBUS_CONFIG": str(path)}).mesh.name == "lab"
    with pytest.raises(ConfigError, match=r"nope\.toml.*ZBUS_CONFIG"):
        load_config(env={"ZBUS_CONFIG": str(tmp_path / "nope.toml")})


def test_config_source_ignores_env_and_applies_overrides() -> None:
    base = Config(queue=QueueConfig(max_size=7))
    env = {"ZBUS_QUEUE__MAX_SIZE": "9"}
    assert load_config(base, env=env) is base
    cfg = load_config(base, env=env, overrides={"logging": {"level": "error"}})
    assert (cfg.queue.max_size, cfg.logging.level) == (7, "error")


def test_env_parsing_by_field_type() -> None:
    env = {
        "ZBUS_QUEUE__MAX_SIZE": "500",
        "ZBUS_PERSISTENCE__RETENTION__DEFAULT": "3d",
        "ZBUS_PERSISTENCE__RETENTION__BY_PREFIX": "audit=30d, x.y=2h",
        "ZBUS_PERSISTENCE__MAP_SIZE": "64MiB",
        "ZBUS_MONITORING__HTTP__PORT": "8081",
        "ZBUS_MONITORING__HTTP__ENABLED": "yes",
        "ZBUS_TRANSPORT__IPC": "1",
        "ZBUS_DISCOVERY__SCOPE": "static",
        "ZBUS_DISCOVERY__PEERS": "tcp://a:1,tcp://b:2",
        "ZBUS_DISCOVERY__HEARTBEAT_INTERVAL": "0.5",
        "ZBUS_logging__Level": "WARNING",  # keys are case-insensitive
        "ZBUS_CONFIG": "",  # no "__": not a setting
        "ZBUS_DEMO_DURATION": "whatever",  # no "__": not a setting
        "PATH": "/usr/bin",
    }
    cfg = load_config(env=env)
    assert cfg.queue.max_size == 500
    assert cfg.persistence.retention.default == 3 * DAY
    assert cfg.persistence.retention.by_prefix == {"audit": 30 * DAY, "x.y": 7200.0}
    assert cfg.persistence.map_size == 64 * 1024**2
    assert cfg.monitoring.http == HttpConfig(enabled=True, port=8081)
    assert cfg.transport.ipc is True
    assert cfg.discovery.peers == ("tcp://a:1", "tcp://b:2")
    assert cfg.discovery.heartbeat_interval == 0.5
    assert cfg.logging.level == "warning"


@pytest.mark.parametrize(("word", "expected"), [("true", True), ("0", False), ("No", False), ("on", True)])
def test_env_bool_words(word: str, expected: bool) -> None:
    assert load_config(env={"ZBUS_PERSISTENCE__ENABLED": word}).persistence.enabled is expected


def test_to_dict_round_trip() -> None:
    cfg = load_config(
        {
            "discovery": {"scope": "lan", "interfaces": ["eth0", "10.0.0.2"], "peer_timeout": "30s"},
            "persistence": {"enabled": True, "retention": {"by_prefix": {"orders": "14d"}}},
            "monitoring": {"http": {"enabled": True, "port": 9100}},
            "logging": {"level": "Debug", "format": "json", "output": "/var/log/zbus.log"},
        },
        env={},
    )
    plain = cfg.to_dict()
    assert plain["discovery"]["interfaces"] == ["eth0", "10.0.0.2"]
    assert plain["persistence"]["retention"]["by_prefix"] == {"orders": 14 * DAY}
    assert type(plain["persistence"]["retention"]["by_prefix"]) is dict
    assert load_config(plain, env={}) == cfg
    assert load_config(Config().to_dict(), env={}) == Config()


# --- error paths ---


@pytest.mark.parametrize(
    ("toml", "pattern"),
    [
        ("[queu]\nmax_size = 1\n", r"unknown section queu; did you mean queue\?"),
        ("[queue]\nmax_sise = 1\n", r"unknown key queue\.max_sise; did you mean queue\.max_size\?"),
        (
            "[monitoring.http]\nprot = 1\n",
            r"unknown key monitoring\.http\.prot; did you mean monitoring\.http\.port",
        ),
        ('[queue]\nmax_size = "big"\n', r'queue\.max_size = "big": expected an integer ≥ 1'),
        ("[queue]\nmax_size = 1.5\n", r"queue\.max_size = 1\.5: expected an integer"),
        ("[queue]\nmax_size = true\n", r"queue\.max_size = true: expected an integer"),
        ("[persistence]\nenabled = 'yes'\n", r'persistence\.enabled = "yes": expected true or false'),
        ("[mesh]\nname = 5\n", r"mesh\.name = 5: expected 1-63 chars"),
        ("[mesh]\nname = 'a b'\n", r'mesh\.name = "a b": expected 1-63 chars'),
        (
            "[transport]\npub_port = 70000\n",
            r"transport\.pub_port = 70000: expected an integer in 0\.\.65535",
        ),
        ("[transport]\nmax_message_size = '1GiB'\n", r"max_message_size = \"1GiB\": expected a size in 1KiB"),
        (
            "[transport]\nmax_message_size = 100\n",
            r"max_message_size = 100: expected a size in 1KiB\.\.256MiB",
        ),
        ("[transport]\nkind = 'tcp'\n", r'transport\.kind = "tcp": expected one of "zmq", "memory"'),
        ("[queue]\noverflow_policy = 'drop'\n", r'expected one of "drop_oldest", "drop_newest", "block"'),
        ("[logging]\nlevel = 'loud'\n", r'logging\.level = "loud": expected one of "debug"'),
        (
            "[discovery]\nscope = 'wan'\n",
            r'discovery\.scope = "wan": expected one of "local", "lan", "static"',
        ),
        (
            "[discovery]\npeers = ['http://x:1']\n",
            r"discovery\.peers = \[\"http://x:1\"\]: expected a list of endpoints",
        ),
        ("[discovery]\npeers = 'tcp://x:1'\n", r"discovery\.peers = \"tcp://x:1\": expected a list"),
        ("[queue]\npriority_levels = 5\n", r"queue\.priority_levels = 5: expected .*only priorities 1-10"),
        ("[queue]\nretry_base_delay = 'soon'\n", r'retry_base_delay = "soon": expected a duration ≥ 0'),
        ("[discovery]\nheartbeat_interval = 0\n", r"heartbeat_interval = 0: expected a duration > 0"),
        ("[persistence]\nmap_size = '12 parsecs'\n", r'map_size = "12 parsecs": expected a size ≥ 1MiB'),
        (
            "[persistence.retention]\nby_prefix = {audit = 'forever'}\n",
            r"by_prefix = .*expected a table of topic",
        ),
        ("[persistence.retention]\nby_prefix = {audit = 0}\n", r"by_prefix = .*duration > 0"),
        ("queue = 5\n", r"queue = 5: expected a table of queue\.\* settings"),
        (
            "[discovery]\nheartbeat_interval = '2s'\npeer_timeout = '2s'\n",
            r"peer_timeout = 2 must be greater than",
        ),
        (
            "[discovery]\npeer_timeout = '500ms'\n",
            r"discovery\.peer_timeout = 0\.5 must be greater than discovery",
        ),
        ("[transport]\nreconnect_interval_max = '10ms'\n", r"reconnect_interval_max = 0\.01 must be ≥"),
        ("[queue]\nretry_max_delay = 0\n", r"queue\.retry_max_delay = 0 must be ≥ queue\.retry_base_delay"),
        ("[security]\ncurve = true\n", r"security\.curve is not implemented yet"),
    ],
)
def test_bad_file_values_name_file_key_value_and_expectation(tmp_path: Path, toml: str, pattern: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key queue\.zzz \(valid: max_size, max_bytes, overflow_"):
        load_config({"queue": {"zzz": 1}}, env={})


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.toml"):
        load_config(tmp_path / "missing.toml", env={})


def test_toml_syntax_error_names_path_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "[queue\nmax_size = 1\n")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 1") as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{path}: invalid TOML")


def test_unknown_env_variable_is_named() -> None:
    with pytest.raises(
        ConfigError, match=r"environment variable ZBUS_QUEUE__MAXSIZE: unknown key queue\.maxsize"
    ):
        load_config(env={"ZBUS_QUEUE__MAXSIZE": "3"})
    # an unknown *section* is the application's own variable, not a zbus setting: ignored
    assert load_config(env={"ZBUS_ADMIN__TOKEN": "secret", "ZBUS_NOPE__X": "3"}) == Config()


@pytest.mark.parametrize(
    ("name", "value", "pattern"),
    [
        ("ZBUS_QUEUE__MAX_SIZE", "big", r'queue\.max_size = "big": expected an integer ≥ 1'),
        ("ZBUS_TRANSPORT__IPC", "maybe", r"transport\.ipc = \"maybe\": expected true or false \(or 1/0"),
        ("ZBUS_DISCOVERY__PEERS", "tcp://a", r"discovery\.peers = \"tcp://a\": expected a list of endpoints"),
        ("ZBUS_PERSISTENCE__RETENTION__BY_PREFIX", "audit", r"by_prefix = \"audit\": expected a table"),
        ("ZBUS_PERSISTENCE__RETENTION", "5", r"persistence\.retention = '5': expected a table"),
        ("ZBUS_SECURITY__CURVE", "true", r"security\.curve is not implemented yet"),
    ],
)
def test_bad_env_value_names_the_variable(name: str, value: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(env={name: value})
    assert str(info.value).startswith(f"environment variable {name}: ")


def test_bad_keyword_override_is_named() -> None:
    with pytest.raises(
        ConfigError, match=r"^keyword argument: queue\.max_size = -1: expected an integer ≥ 1"
    ):
        load_config(env={}, overrides={"queue": {"max_size": -1}})
    with pytest.raises(ConfigError, match=r"^keyword argument: unknown section qeueu; did you mean queue"):
        load_config(env={}, overrides={"qeueu": {}})


def test_cross_field_error_names_the_sources() -> None:
    with pytest.raises(ConfigError, match=r"^config mapping \+ environment: discovery\.peer_timeout = 1"):
        load_config({"discovery": {"peer_timeout": 1}}, env={"ZBUS_DISCOVERY__HEARTBEAT_INTERVAL": "2"})


def test_curve_constructor_and_mapping() -> None:
    with pytest.raises(ConfigError, match=r"security\.curve is not implemented yet"):
        SecurityConfig(curve=True)
    with pytest.raises(ConfigError, match=r"^config mapping: security\.curve = true"):
        load_config({"security": {"curve": True}}, env={})
    assert load_config({"security": {"curve": False}}, env={}).security == SecurityConfig()


# --- units ---


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0.0), (2, 2.0), (1.5, 1.5), ("250ms", 0.25), ("1s", 1.0), ("1.5s", 1.5), ("5m", 300.0),
     ("2h", 7200.0), ("7d", 7 * DAY), ("0.5", 0.5), (" 10 S ", 10.0), ("100MS", 0.1)],
)  # fmt: skip
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "ms", "5 parsecs", "1w", "-1s", -1, float("inf"), float("nan"), True, None]
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [(0, 0), (4096, 4096), (2048.0, 2048), ("512KiB", 512 * 1024), ("100MB", 100_000_000), ("1GiB", 1024**3),
     ("1G", 1024**3), ("1.5K", 1536), ("10kb", 10_000), ("7", 7), ("3 b", 3), ("1TiB", 1024**4)],
)  # fmt: skip
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "big", "1XB", "-1", -1, 1.5, True, None, [1]])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ConfigError, match="invalid size"):
        parse_size(value)


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_units_round_trip(n: int) -> None:
    assert parse_duration(f"{n}ms") == n / 1000
    assert parse_duration(f"{n}s") == parse_duration(n) == float(n)
    assert parse_duration(f"{n}d") == n * DAY


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_duration_numbers_round_trip(x: float) -> None:
    assert parse_duration(x) == x
    if "e" not in repr(x):  # exponent notation is not a duration string
        assert parse_duration(repr(x)) == parse_duration(f"{x!r}s") == x


@given(
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(["", "B", "KiB", "MiB", "GiB", "KB", "MB", "GB"]),
)
def test_size_units_round_trip(n: int, unit: str) -> None:
    factor = {
        "": 1,
        "B": 1,
        "KiB": 1024,
        "MiB": 1024**2,
        "GiB": 1024**3,
        "KB": 10**3,
        "MB": 10**6,
        "GB": 10**9,
    }
    assert parse_size(f"{n}{unit}") == n * factor[unit]
    assert parse_size(f"{n} {unit.lower()}") == n * factor[unit]


@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["drop_oldest", "drop_newest", "block"]),
    st.lists(st.sampled_from(["tcp://10.0.0.5:7001", "ipc:///run/zbus/a", "tcp://[::1]:9"]), max_size=3),
)
def test_to_dict_round_trip_property(max_size: int, timeout_ms: int, policy: str, peers: list[str]) -> None:
    cfg = load_config(
        {
            "queue": {"max_size": max_size, "overflow_policy": policy},
            "discovery": {"peers": peers, "heartbeat_interval": "1ms", "peer_timeout": f"{timeout_ms + 1}ms"},
        },
        env={},
    )
    assert load_config(cfg.to_dict(), env={}) == cfg


# --- journal path ---


def test_default_journal_path() -> None:
    assert default_journal_path("n1", {"XDG_DATA_HOME": "/data", "HOME": "/h"}) == Path("/data/zbus/n1")
    assert default_journal_path("n1", {"XDG_DATA_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/share/zbus/n1"
    )
    assert default_journal_path("n1", {"HOME": "/h"}) == Path("/h/.local/share/zbus/n1")
    assert PersistenceConfig().journal_path("n1", {"HOME": "/h"}) == Path("/h/.local/share/zbus/n1")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\0b"])
def test_default_journal_path_rejects_unsafe_names(name: str) -> None:
    with pytest.raises(ConfigError, match="cannot name a journal directory"):
        default_journal_path(name, {"HOME": "/h"})
