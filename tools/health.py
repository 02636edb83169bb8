"""``zbus health [URL]``: ask a node's /health endpoint; exit 0 healthy, 1 unhealthy or unreachable."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs

import click

import zbus
from zbus.monitoring.access import HttpAccess

from . import output


def health_url(url: str | None, config_file: str | None) -> str:
    """``URL/health`` from the argument (``host:port`` or ``http://host:port[/health]``), or from the
    config's ``monitoring.http`` host and port when no URL is given (``127.0.0.1`` for a wildcard host,
    as in a container that binds ``0.0.0.0``)."""
    if url is None:
        try:
            http = zbus.load_config(config_file).monitoring.http
        except zbus.ConfigError as exc:
            output.fail(str(exc))
        if http.port == 0:
            output.usage(
                "no URL given and monitoring.http.port is 0 (ephemeral); pass the URL the node printed, "
                "e.g. zbus health http://127.0.0.1:8081"
            )
        host = "127.0.0.1" if http.host in ("0.0.0.0", "", "*") else http.host  # bound everywhere: ask here
        url = f"[{host}]:{http.port}" if ":" in host else f"{host}:{http.port}"
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    return url if url.endswith("/health") else url + "/health"


def config_token(config_file: str | None) -> str:
    """The configured token of ``monitoring.http`` (``token``, or ``token_file``'s, read and checked
    as the node does), or "" when none is configured."""
    try:
        http = zbus.load_config(config_file).monitoring.http
        if not (http.token or http.token_file):
            return ""
        return HttpAccess.from_config(http).token
    except zbus.ConfigError as exc:
        output.fail(str(exc))


def fetch(url: str, timeout: float, token: str = "") -> tuple[int, dict[str, Any]]:
    """GET ``url`` (with ``Authorization: Bearer token`` if given): the status code and the JSON body
    (a 503 still has one)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 unhealthy: the body is the health document
        body = exc.read()
        if exc.code == 401:
            output.fail(f"{url} needs the node's token: pass --token (monitoring.http.token) or --config")
        try:
            return exc.code, json.loads(body)
        except ValueError:
            output.fail(f"{url} answered HTTP {exc.code} without a health document; is it a zbus node?")
    except (urllib.error.URLError, OSError) as exc:  # timeouts are OSErrors too
        reason = getattr(exc, "reason", exc)
        output.fail(f"cannot reach {url}: {reason}; is the node running with --http (monitoring.http)?")
    except ValueError:
        output.fail(f"{url} did not answer with JSON; is it a zbus node's /health?")


@click.command("health")
@click.argument("url", required=False)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON instead of indented JSON.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="TOML config whose monitoring.http host/port is used when URL is omitted, and whose token is sent.",
)
@click.option(
    "--token",
    envvar="ZBUS_HTTP_TOKEN",
    metavar="TOKEN",
    help="The node's HTTP token, needed when /health is closed (monitoring.http.open) [env ZBUS_HTTP_TOKEN].",
)
def health(
    url: str | None, timeout: float, as_json: bool, config_file: str | None, token: str | None
) -> None:
    """Print a node's /health document; exit 0 if healthy, 1 if unhealthy or unreachable.

    URL is the node's HTTP address (as printed by `zbus node start --http`), with or without
    /health; without it, monitoring.http.host and port of the configuration are used. /health is
    open by default; when monitoring.http.open leaves it out, pass --token (or --config with the
    node's monitoring.http.token / token_file).

    \b
    Example:
      zbus node start --http 127.0.0.1:8081 &
      zbus health http://127.0.0.1:8081
    """
    if url is not None and "?" in url:  # the dashboard URL `zbus node start` printed: its token is ours
        url, _, query = url.partition("?")
        token = token or next(iter(parse_qs(query).get("token", [])), None)
    target = health_url(url, config_file)
    status, doc = fetch(target, timeout, token if token is not None else config_token(config_file))
    click.echo(json.dumps(doc) if as_json else json.dumps(doc, indent=2))
    if status != 200 or doc.get("status") != "healthy":
        problems = "; ".join(doc.get("problems") or []) or f"HTTP {status}"
        output.fail(f"{target} is unhealthy: {problems}")
