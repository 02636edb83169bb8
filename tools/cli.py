"""The ``zbus`` command: operate and poke a zbus mesh from a shell.

Exit codes: 0 success, 1 failure, 2 usage error (click's convention).
"""

from __future__ import annotations

import click

import zbus

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(zbus.__version__, "-V", "--version", prog_name="zbus")
def cli() -> None:
    """zbus: a brokerless event bus for Python agents and services.

    \b
    Examples:
      zbus sub 'order.*'                       print order events as they arrive
      zbus pub order.placed '{"order": 17}'    publish one event
      zbus request math.add '{"a": 2, "b": 3}' ask a responder
      zbus reply math.add --command 'jq ...'   answer requests from the shell
      zbus peers                               list the nodes of the mesh
      zbus monitor                             watch everything that flows
      zbus top                                 every node's rates, losses, latency, live
      zbus topics                              subscriptions, responders, published topics
      zbus record 'order.*' --journal DIR      keep the mesh's order events (serves replays)
      zbus replay 'order.*' --journal DIR      print journaled events (offline)
      zbus journal stats --journal DIR         events, bytes, streams of a journal
      zbus dlq list --journal DIR              dead letters (retry, purge)
      zbus doctor                              check this host, say what to fix
      zbus forwarder                           XSUB/XPUB proxy for large meshes
      zbus node start --name gateway           run a node until Ctrl-C
      zbus health http://127.0.0.1:8081        is that node healthy? (exit 0 / 1)
      zbus config show                         print the effective configuration
      zbus keygen NAME                         this node's CURVE key pair (docs/SECURITY.md)
      zbus mesh init                           the mesh authority's signing key
      zbus enroll NAME --key NAME.key ...      a signed credential with permissions
    """


# One command per module, registered here.
from .bench import bench  # noqa: E402
from .configure import config  # noqa: E402
from .demo import demo  # noqa: E402
from .dlq import dlq  # noqa: E402
from .doctor import doctor  # noqa: E402
from .forwarder import forwarder  # noqa: E402
from .health import health  # noqa: E402
from .journal import journal  # noqa: E402
from .journal_backup import backup as _backup  # noqa: E402, F401  (adds `journal backup|restore`)
from .keys import enroll, keygen, mesh  # noqa: E402
from .monitor import monitor  # noqa: E402
from .node import node  # noqa: E402
from .peers import peers  # noqa: E402
from .pub import pub  # noqa: E402
from .record import record  # noqa: E402
from .replay import replay  # noqa: E402
from .reply import reply  # noqa: E402
from .request import request  # noqa: E402
from .sub import sub  # noqa: E402
from .top import top  # noqa: E402
from .topics import topics  # noqa: E402

for _command in (
    bench,
    config,
    demo,
    dlq,
    doctor,
    forwarder,
    health,
    journal,
    keygen,
    mesh,
    enroll,
    monitor,
    node,
    peers,
    pub,
    record,
    replay,
    reply,
    request,
    sub,
    top,
    topics,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="zbus")


if __name__ == "__main__":  # pragma: no cover
    main()
