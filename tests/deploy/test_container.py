"""The image's entrypoint and configuration, and compose.yaml's services, run as containers would run them.

No Docker daemon here, so each "container" is a process in a network namespace of its own (a lab
host), started through container_run.py: the image's USER, its VOLUME, a private /etc/hosts with the
names compose DNS would give, the image's ENV plus the service's ``environment``, and ENTRYPOINT +
command as Docker would exec them. What the image build adds (Python, the wheel) is this test's venv.
Root only; skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab.conftest import _SESSION, _SUBNET, LabNode, _labs, _unavailable
from lab.netlab import NetLab

from .files import compose, image

pytestmark = pytest.mark.lab

RUN = Path(__file__).with_name("container_run.py")
JOIN = 15.0  # s for a mesh of containers to form (measured: ~1 s)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.2 s until it holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def user() -> int:
    return int(image().last("USER").split(":")[0])


class Containers:
    """Lab hosts, each running at most one "container" (plus short exec'd commands)."""

    def __init__(self, net: NetLab, tmp: Path) -> None:
        self.net, self.tmp = net, tmp
        self.running: list[LabNode] = []

    def hosts_file(self, names: dict[str, int]) -> Path:
        path = self.tmp / f"hosts-{len(list(self.tmp.glob('hosts-*')))}"
        lines = ["127.0.0.1 localhost", *(f"{self.net.addr(h)} {n}" for n, h in names.items())]
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self, extra: dict[str, str], hostname: str) -> dict[str, str]:
        """What Docker gives the process: the image's ENV, the service's, HOSTNAME and a PATH."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_") and k != "HOSTNAME"}
        return {**base, **image().env(), **extra, "HOSTNAME": hostname, "PATH": "/var/lib/bin:/usr/bin:/bin"}

    def argv(self, hosts: Path, volume: Path | None, command: list[str]) -> list[str]:
        out = [str(RUN), "--hosts", str(hosts), "--uid", str(user())]
        if volume is not None:
            out += ["--volume", str(volume)]
        return [*out, "--", *command]

    def start(self, host: int, name: str, hosts: Path, env: dict[str, str], command: list[str],
              volume: Path | None = None) -> LabNode:  # fmt: skip
        """ENTRYPOINT + command, as ``docker run`` execs it."""
        argv = self.argv(hosts, volume, [*image().exec_form("ENTRYPOINT"), *command])
        node = LabNode(self.net, host, name, env, (), self.tmp, argv=argv)
        self.running.append(node)
        return node

    def exec(self, host: int, hosts: Path, env: dict[str, str], command: list[str], timeout: float = 30):
        """A command run beside the container (``docker exec``), e.g. its HEALTHCHECK."""
        argv = self.net.exec_argv(host, [sys.executable, *self.argv(hosts, None, command)])
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def containers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Containers]:
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    probe = subprocess.run(
        [
            "setpriv",
            f"--reuid={user()}",
            f"--regid={user()}",
            "--clear-groups",
            sys.executable,
            "-c",
            "import zbus",
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip(f"uid {user()} cannot run this interpreter (its files are not readable by others)")
    net = NetLab(request.param, prefix=f"zl{_SESSION}-{next(_labs)}-", subnet=_SUBNET).up()
    tmp_path.chmod(0o755)
    c = Containers(net, tmp_path)
    try:
        yield c
    finally:
        try:
            for node in c.running:
                node.stop()
        finally:
            net.down()


@pytest.mark.parametrize("containers", [1], indirect=True)
def test_the_image_runs_a_healthy_node_as_its_user_with_its_journal_in_the_volume(
    containers: Containers, tmp_path: Path
) -> None:
    hosts = containers.hosts_file({"zbus-test": 1})
    volume = tmp_path / "volume"
    volume.mkdir()
    env = containers.env({"ZBUS_MESH__NAME": f"img-{os.urandom(3).hex()}"}, hostname="zbus-test")
    node = containers.start(1, "zbus-test", hosts, env, image().exec_form("CMD"), volume)
    ready = node.expect("ready ", timeout=JOIN)
    assert ready.startswith("ready zbus-test ")  # named after the container's host name
    assert "router=tcp://" + containers.net.addr(1) + ":7001" in ready
    _, healthcheck = image().healthcheck()
    health = containers.exec(1, hosts, env, healthcheck)
    assert health.returncode == 0 and '"status": "healthy"' in health.stdout, health.stderr
    journal = volume / "journal" / "data.mdb"
    assert journal.is_file() and journal.stat().st_uid == user()

    node.popen.terminate()  # docker stop: SIGTERM to the entrypoint's exec'd zbus
    node.expect("stopped zbus-test", timeout=10)
    assert node.popen.wait(10) == 0
    unhealthy = containers.exec(1, hosts, env, healthcheck)
    assert unhealthy.returncode == 1 and "cannot reach" in unhealthy.stderr

    again = containers.start(1, "zbus-test", hosts, env, [], volume)  # no command: the image's CMD
    assert again.expect("ready ", timeout=JOIN).split()[2] == ready.split()[2]  # same id: from the journal


@pytest.mark.parametrize("containers", [6], indirect=True)
def test_compose_services_form_a_mesh_and_carry_events(containers: Containers, tmp_path: Path) -> None:
    services = compose()["services"]
    names = list(services)  # node1 node2 node3 forwarder on hosts 1-4; `compose run` containers on 5, 6
    hosts = containers.hosts_file({name: i for i, name in enumerate(names, 1)})
    mesh = f"compose-{os.urandom(3).hex()}"  # the file's mesh name, made unique for this run
    envs, started = {}, {}
    for i, name in enumerate(names, 1):
        service = services[name]
        envs[name] = containers.env({**service["environment"], "ZBUS_MESH__NAME": mesh}, service["hostname"])
        volume = None
        if service.get("volumes"):
            volume = tmp_path / service["volumes"][0].split(":")[0]
            volume.mkdir()
        started[name] = containers.start(i, name, hosts, envs[name], service["command"], volume)
    for name, node in started.items():
        node.expect("ready " + name, timeout=JOIN)
    # each container's HEALTHCHECK passes and its /health counts the other three as peers
    _, healthcheck = image().healthcheck()
    wanted = f"connected ({len(names) - 1} peers)"
    for i, name in enumerate(names, 1):

        def healthy(host: int = i, service: str = name) -> bool:
            health = containers.exec(host, hosts, envs[service], healthcheck)
            return health.returncode == 0 and wanted in health.stdout

        wait_until(healthy, JOIN, f"{name}: healthy with {wanted}")

    # docker compose run --rm node3 sub 'compose.*' --count 1   and   ... run --rm node1 pub ...
    sub = containers.start(5, "sub", hosts, envs["node3"], ["sub", "compose.*", "--count", "1", "--json"])
    pub = containers.start(
        6, "pub", hosts, envs["node1"], ["pub", "compose.hello", '{"n": 1}', "--timeout", "15"]
    )
    pub.wait_for(lambda: pub.eof, timeout=30, what="pub to finish")
    assert pub.popen.wait(10) == 0, pub._context()
    line = sub.expect("{", timeout=15)
    assert '"type": "compose.hello"' in line and '"payload": {"n": 1}' in line
