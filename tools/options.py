"""The options every networked command shares, and how they become a node's configuration.

``--mesh``, ``--scope``, ``--peer`` (repeatable; implies ``--scope static``), ``--config`` and
``--name``. Precedence: defaults < ``--config`` file (or ``$ZBUS_CONFIG``) < ``ZBUS_*`` variables
< these options. A bad file or variable exits 1 (as ``zbus config show``); a bad option value
exits 2.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

import zbus

from . import output

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class NodeOptions:
    """What the common options asked for; ``node()`` builds the (not yet started) node."""

    mesh: str | None = None
    scope: str | None = None
    peers: tuple[str, ...] = ()
    config_file: str | None = None
    name: str | None = None
    #: keep a journal (``persistence.enabled``); at ``journal`` or else ``persistence.path``
    persist: bool = False
    journal: str | None = None

    def with_journal(self, journal: str | None, *, name: str | None = None) -> NodeOptions:
        """The same options with a journal (at ``journal``, or the configured or default path for the
        node's name) and, when ``--name`` was not given, the node name ``name``."""
        return dataclasses.replace(self, persist=True, journal=journal, name=self.name or name)

    def overrides(self) -> dict[str, Any]:
        """The options as a nested config mapping (only what was given)."""
        result: dict[str, Any] = {}
        if self.persist:
            result["persistence"] = {"enabled": True}
            if self.journal is not None:
                result["persistence"]["path"] = os.path.expanduser(self.journal)
        if self.mesh is not None:
            result["mesh"] = {"name": self.mesh}
        discovery: dict[str, Any] = {}
        scope = self.scope or ("static" if self.peers else None)
        if scope is not None:
            discovery["scope"] = scope
        if self.peers:
            discovery["peers"] = list(self.peers)
        if discovery:
            result["discovery"] = discovery
        return result

    def config(self) -> zbus.Config:
        try:
            base = zbus.load_config(self.config_file)
        except zbus.ConfigError as exc:
            output.fail(str(exc))
        try:
            return zbus.load_config(base, overrides=self.overrides())
        except zbus.ConfigError as exc:
            output.usage(str(exc))

    def node(self, role: str) -> zbus.Node:
        """A ``zbus.Node`` named ``--name`` or ``zbus-<role>-<pid>-<hex>``."""
        name = self.name or f"zbus-{role}-{os.getpid()}-{os.urandom(2).hex()}"
        try:
            return zbus.Node(name, config=self.config(), role="monitor" if role == "monitor" else "node")
        except zbus.UsageError as exc:
            output.usage(str(exc))


def network_options(func: F) -> F:
    """Add the common options; the command receives them as one ``node_options: NodeOptions``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        mesh: str | None,
        scope: str | None,
        peer: tuple[str, ...],
        config_file: str | None,
        name: str | None,
        **kwargs: Any,
    ) -> Any:
        opts = NodeOptions(mesh=mesh, scope=scope, peers=peer, config_file=config_file, name=name)
        return func(*args, node_options=opts, **kwargs)

    decorators = [
        click.option(
            "--name", metavar="NAME", help="This node's name (default: zbus-<command>-<pid>-<hex>)."
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False),
            metavar="FILE",
            help="TOML config file (default: $ZBUS_CONFIG, then the defaults).",
        ),
        click.option(
            "--peer",
            multiple=True,
            metavar="ENDPOINT",
            help="A peer's ROUTER endpoint, e.g. tcp://10.0.0.5:7001, with security on followed by "
            "#key=<its public key> (repeatable; implies --scope static).",
        ),
        click.option(
            "--scope",
            type=click.Choice(["local", "lan", "static"]),
            help="Discovery scope (default from config: local).",
        ),
        click.option("--mesh", metavar="NAME", help="Mesh name (default from config/env: 'default')."),
    ]
    result: Any = wrapper
    for decorate in decorators:
        result = decorate(result)
    return result  # type: ignore[no-any-return]


class JsonValue(click.ParamType):  # type: ignore[type-arg]
    """A JSON text on the command line; invalid JSON is a usage error (exit 2)."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"{value!r} is not valid JSON ({exc}); quote it for the shell, e.g. '{{\"n\": 1}}'")


JSON = JsonValue()
