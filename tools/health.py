"""``zbus health [URL]``: ask a node's /health endpoint; exit 0 healthy, 1 unhealthy or unreachable."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import click

import zbus

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


def fetch(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """GET ``url``: the status code and the JSON body (a 503 still has one)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 unhealthy: the body is the health document
        body = exc.read()
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
    help="TOML config whose monitoring.http host/port is used when URL is omitted.",
)
def health(url: str | None, timeout: float, as_json: bool, config_file: str | None) -> None:
    """Print a node's /health document; exit 0 if healthy, 1 if unhealthy or unreachable.

    URL is the node's HTTP address (as printed by `zbus node start --http`), with or without
    /health; without it, monitoring.http.host and port of the configuration are used.

    \b
    Example:
      zbus node start --http 127.0.0.1:8081 &
      zbus health http://127.0.0.1:8081
    """
    target = health_url(url, config_file)
    status, doc = fetch(target, timeout)
    click.echo(json.dumps(doc) if as_json else json.dumps(doc, indent=2))
    if status != 200 or doc.get("status") != "healthy":
        problems = "; ".join(doc.get("problems") or []) or f"HTTP {status}"
        output.fail(f"{target} is unhealthy: {problems}")
