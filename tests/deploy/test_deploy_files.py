"""The Dockerfile, compose.yaml, .dockerignore and the Kubernetes manifests: the fields that matter.

The files are read the way their tools read them (tests/deploy/files.py, yaml_subset.py) and every
setting they pass to zbus is loaded with ``load_config`` as the node would, so a typo in a ZBUS_*
name or a TOML value fails here, not in a cluster. Running them: test_container.py (root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import zbus

from .files import COMPOSE, ENTRYPOINT, K8S, ROOT, compose, dockerfile_stages, image, k8s
from .yaml_subset import YamlSubsetError, load_all

# deployments run with the default discovery.settle (tests/conftest.py)
pytestmark = pytest.mark.default_settle

UID = "10001"


def test_the_image_is_slim_non_root_with_a_journal_volume_and_a_healthcheck() -> None:
    build, final = dockerfile_stages()
    assert final.base.startswith("python:3.") and final.base.endswith("-slim")
    assert build.base == final.base  # wheels built for the interpreter that installs them
    assert final.last("USER").split(":")[0] == UID
    assert json.loads(final.last("VOLUME")) == ["/var/lib/zbus"]
    env = final.env()
    assert env["ZBUS_PERSISTENCE__PATH"].startswith("/var/lib/zbus/")
    options, command = final.healthcheck()
    assert command[:2] == ["zbus", "health"] and options["timeout"].endswith("s")
    assert final.exec_form("ENTRYPOINT") == ["zbus-entrypoint"]
    assert final.exec_form("CMD") == ["node", "start"]
    assert set(final.last("EXPOSE").split()) == {
        env["ZBUS_TRANSPORT__ROUTER_PORT"],
        env["ZBUS_TRANSPORT__PUB_PORT"],
        env["ZBUS_MONITORING__HTTP__PORT"],
    }
    copied = [args.split() for args in final.all("COPY") if "--from" not in args]
    assert copied == [["deploy/docker/entrypoint.sh", "/usr/local/bin/zbus-entrypoint"]]
    assert ENTRYPOINT.stat().st_mode & 0o111, "the entrypoint must be executable"


def test_the_image_environment_is_a_valid_configuration() -> None:
    cfg = zbus.load_config(None, env=image().env())
    assert cfg.discovery.scope == "static" and cfg.transport.host == "0.0.0.0"
    assert cfg.persistence.enabled and cfg.monitoring.http.enabled
    assert cfg.monitoring.http.host == "0.0.0.0"  # reachable by probes; `zbus health` asks 127.0.0.1


def test_dockerignore_keeps_local_state_out_but_what_the_build_needs_in() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    ignored = {line for line in ignored if line and not line.startswith("#")}
    assert {".git", ".venv", "*.mdb"} <= ignored
    needed = {
        "setup.cfg",
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "zbus",
        "store",
        "discovery",
        "tools",
        "config",
    }
    needed.add("deploy")
    assert not needed & ignored


def service_env(name: str) -> dict[str, str]:
    """What a compose service's process sees: the image's ENV, then the service's environment."""
    return {**image().env(), **compose()["services"][name]["environment"]}


def test_compose_runs_three_nodes_and_a_forwarder_on_static_scope() -> None:
    services = compose()["services"]
    assert set(services) == {"node1", "node2", "node3", "forwarder"}
    built = [name for name, s in services.items() if "build" in s]
    assert built == ["node1"] and {s["image"] for s in services.values()} == {f"zbus:{zbus.__version__}"}
    for name, service in services.items():
        assert service["hostname"] == name  # the entrypoint names the node after it
        cfg = zbus.load_config(None, env=service_env(name))
        assert cfg.discovery.scope == "static" and cfg.mesh.name == "compose"
        router = cfg.transport.router_port
        # every service is listed by its service name (compose DNS) on the fixed router port
        assert set(cfg.discovery.peers) == {f"tcp://{s}:{router}" for s in services}
        assert service["ports"] == [f"127.0.0.1:{8080 + list(services).index(name) + 1}:8081"]
    assert services["forwarder"]["command"] == ["forwarder"]
    for name in ("node1", "node2", "node3"):
        assert services[name]["command"] == ["node", "start"]
        assert zbus.load_config(None, env=service_env(name)).transport.forwarder == "auto"
        (volume,) = services[name]["volumes"]
        assert volume.split(":")[1] == "/var/lib/zbus" and volume.split(":")[0] in compose()["volumes"]


def test_kubernetes_statefulset_service_and_configmap_fit_together() -> None:
    m = k8s()
    sts, svc, cm = m["StatefulSet"], m["Service"], m["ConfigMap"]
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"] == svc["spec"]["selector"] == labels
    # a journal volume per pod, mounted where the image keeps its journal
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/zbus"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pod["securityContext"]["runAsUser"] == int(UID) and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # probes on /health at the port the node serves it on
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e for e in container["env"]}
    config_path = Path(env["ZBUS_CONFIG"]["value"])
    assert mounts["config"] == str(config_path.parent)
    toml_text = cm["data"][config_path.name]
    with_file = {**image().env(), "ZBUS_CONFIG": ""}
    cfg = zbus.load_config(tomllib.loads(toml_text), env={k: v for k, v in with_file.items() if v})
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health" and ports[get["port"]] == cfg.monitoring.http.port
    assert ports["router"] == cfg.transport.router_port and ports["pub"] == cfg.transport.pub_port
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == ports
    # static peers: every pod by its stable DNS name <statefulset>-<i>.<service>
    name, service = sts["metadata"]["name"], svc["metadata"]["name"]
    assert cfg.discovery.scope == "static"
    assert list(cfg.discovery.peers) == [
        f"tcp://{name}-{i}.{service}:{cfg.transport.router_port}" for i in range(spec["replicas"])
    ]
    # the node is named after its pod
    assert env["ZBUS_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["args"] == image().exec_form("CMD")


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    raise AssertionError(f"use Ki/Mi/Gi for memory quantities: {quantity}")


def millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


@pytest.mark.slow
def test_resource_requests_cover_a_measured_idle_node(tmp_path: Path) -> None:
    """perf/footprint.py measures idle nodes now; the pod's requests must cover them."""
    out = tmp_path / "footprint.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "perf" / "footprint.py"),
            "--nodes",
            "3",
            "--seconds",
            "3",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())["rows"]
    (container,) = k8s()["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert row["rss_mib"] <= mebibytes(requests["memory"]), row
    assert row["cpu_percent"] * 10 <= millicores(requests["cpu"]), row  # 1 % of a core = 10m
    assert mebibytes(limits["memory"]) >= 4 * mebibytes(requests["memory"])  # room for backlogs


def yaml_interpreter() -> str | None:
    """An interpreter on this machine that has PyYAML (not a zbus dependency), or None."""
    candidates = [
        shutil.which("python3"),
        "/usr/bin/python3",
        *map(str, Path.home().glob(".pyenv/versions/*/bin/python3")),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import yaml"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return candidate
    return None


@pytest.mark.parametrize("path", [COMPOSE, K8S], ids=lambda p: p.name)
def test_the_subset_reader_agrees_with_pyyaml(path: Path) -> None:
    python = yaml_interpreter()
    if python is None:
        pytest.skip("no interpreter with PyYAML here to cross-check the subset reader against")
    code = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"
    out = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == load_all(path)


@pytest.mark.parametrize(
    "text",
    ["a: &x 1\nb: *x\n", "a: {b: 1}\n", "a:\n  b: 1\n   c: 2\n", "a: 1\na: 2\n", "- a\nb: 1\n"],
)
def test_the_subset_reader_refuses_what_it_does_not_read(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(YamlSubsetError, match=r"x\.yaml:"):
        load_all(path)
