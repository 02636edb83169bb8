"""``zbus config show|validate|init``: the effective configuration, checking a file, writing a new one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import zbus
from zbus.config.profiles import PROFILES, profile_path, render_toml

from . import output


@click.group("config")
def config() -> None:
    """Show, validate or write configuration (file < ZBUS_* environment < options)."""


@config.command("show")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--toml", "as_toml", is_flag=True, help="Commented TOML with every key instead of JSON.")
def show(path: str | None, as_toml: bool) -> None:
    """Print the effective configuration (defaults < file or $ZBUS_CONFIG < ZBUS_* variables).

    \b
    Examples:
      ZBUS_QUEUE__MAX_SIZE=500 zbus config show
      zbus config show --toml --config prod.toml > effective.toml
    """
    try:
        cfg = zbus.load_config(path)
        if as_toml:
            source = path or "the defaults, $ZBUS_CONFIG"
            header = f"zbus {zbus.__version__}: the effective configuration ({source} and ZBUS_* variables)"
            click.echo(render_toml(cfg, header=header), nl=False)
            return
    except zbus.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(cfg.to_dict(), indent=2, default=_json_default))


@config.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def validate(path: str) -> None:
    """Check a TOML config file; exit 1 with the problem when it is invalid.

    \b
    Example:
      zbus config validate config/production.toml
    """
    try:
        zbus.load_config(path)
    except zbus.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: ok")


@config.command("init")
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="default",
    show_default=True,
    help="Which shipped profile's values to write.",
)
@click.option(
    "--output",
    "-o",
    "out",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Write here instead of stdout; an existing file is refused unless --force.",
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(profile: str, out: str | None, force: bool) -> None:
    """Write a commented TOML file with every key, set as the profile sets it.

    The environment is not applied: the file holds the profile, and ZBUS_* variables still
    override it when a node loads it.

    \b
    Examples:
      zbus config init --profile production --output /etc/zbus/zbus.toml
      ZBUS_CONFIG=/etc/zbus/zbus.toml zbus node start
    """
    try:
        source = profile_path(profile)
        cfg = zbus.load_config(source, env={})
        header = (
            f"zbus {zbus.__version__} configuration, written by `zbus config init --profile {profile}`.\n"
            "Every key is listed; keys differing from the default say what the default is.\n"
            "Load it with ZBUS_CONFIG=this-file or --config; ZBUS_<SECTION>__<KEY> variables override it\n"
            "(ZBUS_QUEUE__MAX_SIZE=500). Durations: seconds or 250ms, 1.5s, 5m, 2h, 7d. Sizes: bytes or\n"
            "512KiB, 100MB, 1GiB."
        )
        text = render_toml(cfg, header=header, comments_from=None if profile == "default" else source)
    except zbus.ConfigError as exc:
        output.fail(str(exc))
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if target.exists() and not force:
        output.fail(f"{target} exists; pass --force to overwrite it, or choose another --output")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        output.fail(f"cannot write {target}: {exc.strerror or exc}")
    output.note(f"wrote {target} (profile {profile})")


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
