"""Shared fixtures. Every test is bounded by pytest-timeout (pyproject: timeout = 60)."""

from __future__ import annotations

import os
import signal

import pytest

# A suite started in the background by a non-interactive shell (`make test &` in a script, a CI step
# run with `&`) inherits SIGINT ignored, and so would every process it starts: the tests that press
# Ctrl-C on a child (the README examples, `zbus sub`, `zbus node start`) would then see it run on.
# A user's terminal gives SIGINT its default; so does the suite, for itself and its children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def mesh_name() -> str:
    """A random mesh name, so concurrent tests and other zbus users on this machine never mix."""
    return f"test-{os.urandom(4).hex()}"


@pytest.fixture
def memory_config() -> dict[str, object]:
    """Config for nodes that talk in memory (no sockets)."""
    return {"transport": {"kind": "memory"}, "queue": {"retry_base_delay": 0.01, "retry_max_delay": 0.05}}


#: ``discovery.settle`` for the tests' nodes (``ZBUS_DISCOVERY__SETTLE``, inherited by the processes they
#: start): a node that published waits out the settle before it leaves, so with the default 1.5 s most
#: tests spent more time closing nodes than testing them (about 40 % of an integration file). Discovery
#: on loopback takes milliseconds (``zbus bench --scenario join``: 3 ms), and a test that publishes to a
#: peer waits for it first (``wait_for_subscribers``; ``zbus pub`` does too). Tests of what the settle
#: is for (publish-and-exit, ``request`` before discovery) and of what a user runs as pasted (README,
#: examples, the deployment guide, the container) are marked ``default_settle`` and keep 1.5 s.
TEST_SETTLE = "0.5s"


@pytest.fixture(autouse=True)
def _discovery_settle(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if (
        request.node.get_closest_marker("default_settle") is None
        and "ZBUS_DISCOVERY__SETTLE" not in os.environ
    ):
        monkeypatch.setenv("ZBUS_DISCOVERY__SETTLE", TEST_SETTLE)
