"""Typed, frozen zbus settings, loaded from defaults, a TOML file, the environment and keywords.

Precedence, lowest first: defaults < TOML file or mapping (or the file named by ``ZBUS_CONFIG``) <
``ZBUS_<SECTION>__<KEY>`` environment variables < ``overrides``. ``config/default.toml`` lists every key.
The package: setting values and units (values.py), the sections and ``Config`` (sections.py), and
``load_config`` (loading.py). Pure: only the stdlib and :mod:`zbus.errors`.
"""

from __future__ import annotations

from .loading import load_config as load_config
from .sections import Config as Config
from .sections import DiscoveryConfig as DiscoveryConfig
from .sections import GroupsConfig as GroupsConfig
from .sections import HttpConfig as HttpConfig
from .sections import LimitsConfig as LimitsConfig
from .sections import LoggingConfig as LoggingConfig
from .sections import MeshConfig as MeshConfig
from .sections import MeshViewConfig as MeshViewConfig
from .sections import MetricsConfig as MetricsConfig
from .sections import MonitoringConfig as MonitoringConfig
from .sections import PerformanceConfig as PerformanceConfig
from .sections import PersistenceConfig as PersistenceConfig
from .sections import QueueConfig as QueueConfig
from .sections import RepairConfig as RepairConfig
from .sections import RetentionConfig as RetentionConfig
from .sections import SecurityConfig as SecurityConfig
from .sections import TransportConfig as TransportConfig
from .values import default_journal_path as default_journal_path
from .values import parse_duration as parse_duration
from .values import parse_size as parse_size

__all__ = [
    "Config",
    "DiscoveryConfig",
    "GroupsConfig",
    "HttpConfig",
    "LimitsConfig",
    "LoggingConfig",
    "MeshConfig",
    "MeshViewConfig",
    "MetricsConfig",
    "MonitoringConfig",
    "PerformanceConfig",
    "PersistenceConfig",
    "QueueConfig",
    "RepairConfig",
    "RetentionConfig",
    "SecurityConfig",
    "TransportConfig",
    "default_journal_path",
    "load_config",
    "parse_duration",
    "parse_size",
]
