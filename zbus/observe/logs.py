"""Logging for zbus and the applications that embed it: JSON lines, and event context on every line.

The library only logs to ``logging.getLogger("zbus")`` (with a ``NullHandler``); it never configures
handlers itself. Applications, and the ``zbus`` CLI (``--log-format``, ``--log-level`` or the
``[logging]`` config table), call :func:`configure_logging`.

Event context: log lines about one event carry ``event_id``, ``topic``, ``correlation_id`` and
``trace_id`` as record attributes (:func:`event_extra`). :class:`EventContextFilter` adds the same
attributes to *any* record logged while a handler runs, the application's own lines included, from
the event being handled (``zbus.observe.tracing.current_event``). The JSON formatter writes them as fields;
the text formatter appends them as ``[topic=… event=… correlation=…]``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from ..errors import UsageError
from .tracing import TRACEPARENT, current_event

if TYPE_CHECKING:
    from ..config import LoggingConfig
    from ..model.event import Event

__all__ = [
    "EVENT_FIELDS",
    "EventContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "event_extra",
]

#: Record attributes describing the event a line is about (absent on lines about no event).
EVENT_FIELDS = ("event_id", "topic", "correlation_id", "trace_id")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def event_extra(event: Event) -> dict[str, Any]:
    """``extra=`` for a log call about ``event``: its id, topic, correlation id and trace id."""
    traceparent = event._headers.get(TRACEPARENT, "")
    return {
        "event_id": event._id,
        "topic": event._topic,
        "correlation_id": event._correlation_id or event._id,
        "trace_id": traceparent[3:35] if len(traceparent) >= 55 else None,
    }


class EventContextFilter(logging.Filter):
    """Adds the event context of the handler running now to records that have none (never drops)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Fill ``event_id``/``topic``/``correlation_id``/``trace_id`` from the current handler's event."""
        if getattr(record, "event_id", None) is None:
            event = current_event.get()
            if event is not None:
                for key, value in event_extra(event).items():
                    setattr(record, key, value)
        return True


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``message``, the event
    fields when present, ``exc`` for exceptions, and any other ``extra=`` attribute given."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON (values that JSON cannot hold become strings)."""
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STD_ATTRS and value is not None and not key.startswith("_")
        )
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-01-01T12:00:00.000Z WARNING zbus: message [topic=… event=… correlation=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO-8601 UTC with milliseconds."""
        return _iso(record.created)

    def format(self, record: logging.LogRecord) -> str:
        """The classic line plus the event context, when the record has one."""
        line = super().format(record)
        if getattr(record, "event_id", None) is None:
            return line
        topic, eid, cid = (getattr(record, k, None) for k in ("topic", "event_id", "correlation_id"))
        return f"{line} [topic={topic} event={eid} correlation={cid}]"


def configure_logging(
    config: LoggingConfig | Mapping[str, Any] | None = None,
    *,
    level: str | None = None,
    format: str | None = None,
    output: str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send the ``zbus`` logger (and the root logger, so application lines share the format) to one
    handler; return that handler. Replaces a handler an earlier call installed.

    Args:
        config: a ``LoggingConfig`` (``config.logging``) or a mapping with ``level``/``format``/``output``.
        level, format, output: override the config: ``"debug"``..``"error"``; ``"text"`` or ``"json"``;
            ``"stderr"``, ``"stdout"`` or a file path (appended to).
        stream: write here instead of ``output`` (tests).

    Raises:
        UsageError: an unknown level or format (the message lists the valid ones).
    """
    values: dict[str, Any] = {"level": "info", "format": "text", "output": "stderr"}
    if config is not None:
        values.update(config if isinstance(config, Mapping) else config.to_dict())
    overrides = {"level": level, "format": format, "output": output}
    values.update({key: value for key, value in overrides.items() if value is not None})
    lvl, fmt = str(values["level"]).lower(), values["format"]
    if lvl not in _LEVELS:
        raise UsageError(f"log level {lvl!r}: expected one of {', '.join(_LEVELS)}")
    if fmt not in ("text", "json"):
        raise UsageError(f"log format {fmt!r}: expected 'text' or 'json'")
    handler: logging.Handler
    if stream is not None:
        handler = logging.StreamHandler(stream)
    elif values["output"] in ("stderr", "stdout"):
        handler = logging.StreamHandler(sys.stderr if values["output"] == "stderr" else sys.stdout)
    else:
        handler = logging.FileHandler(values["output"], encoding="utf-8")
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(EventContextFilter())
    handler.set_name("zbus-configured")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "zbus-configured"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(_LEVELS[lvl])
    logging.getLogger("zbus").setLevel(_LEVELS[lvl])
    return handler
