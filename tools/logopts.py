"""``--log-level`` and ``--log-format`` for the long-running commands (``node start``, ``demo``).

Precedence: the ``[logging]`` config table (file < ``ZBUS_LOGGING__*``) < these options.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

import zbus
from zbus.observe.logs import configure_logging

from . import output

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class LogOptions:
    """What ``--log-level`` / ``--log-format`` asked for (``None``: take it from the config)."""

    level: str | None = None
    format: str | None = None

    def apply(self, config: zbus.Config, *, default_level: str | None = None) -> None:
        """Send zbus's (and the application's) log lines to ``logging.output`` in the chosen format.

        ``default_level`` replaces the config's level when neither option nor ``ZBUS_LOGGING__LEVEL``
        nor a config file asked for one (the demo keeps its screen for events: ``"warning"``).
        """
        level = self.level
        if level is None and default_level is not None and config.logging.level == "info":
            level = default_level
        try:
            configure_logging(config.logging, level=level, format=self.format)
        except (zbus.UsageError, OSError) as exc:
            output.usage(f"logging: {exc}")


def logging_options(func: F) -> F:
    """Add ``--log-level`` and ``--log-format``; the command receives them as ``log_options: LogOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, log_level: str | None, log_format: str | None, **kwargs: Any) -> Any:
        return func(*args, log_options=LogOptions(level=log_level, format=log_format), **kwargs)

    result: Any = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        help="Log lines as text or one JSON object per line (default: logging.format, text).",
    )(wrapper)
    result = click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        help="Least severe log level shown (default: logging.level: info; the demo: warning).",
    )(result)
    return result  # type: ignore[no-any-return]
