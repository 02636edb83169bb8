"""Reading the deployment files as Docker, compose and Kubernetes would: shared by the deploy tests."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .yaml_subset import load_all

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
K8S = ROOT / "deploy" / "k8s" / "zbus.yaml"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


@dataclass
class Stage:
    """One ``FROM`` stage of a Dockerfile: its base and its instructions, continuation lines joined."""

    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [args for instr, args in self.instructions if instr == name]

    def last(self, name: str) -> str:
        found = self.all(name)
        assert found, f"no {name} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """Every ``ENV k=v ...`` of the stage (the ``k=v`` form only, which the Dockerfile uses)."""
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for word in shlex.split(args):
                key, sep, value = word.partition("=")
                assert sep, f"ENV {args!r}: use the KEY=VALUE form"
                out[key] = value
        return out

    def exec_form(self, name: str) -> list[str]:
        """The JSON (exec) form of ENTRYPOINT/CMD; shell form is refused (signals would not reach zbus)."""
        value = json.loads(self.last(name))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{name} must be exec form"
        return value

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """(options, exec-form command) of HEALTHCHECK."""
        args = self.last("HEALTHCHECK")
        options: dict[str, str] = {}
        while args.startswith("--"):
            option, _, args = args.partition(" ")
            key, _, value = option[2:].partition("=")
            options[key] = value
        kind, _, command = args.partition(" ")
        assert kind == "CMD", "HEALTHCHECK CMD [...]"
        return options, json.loads(command)


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    stages: list[Stage] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append(Stage(args.split()[0]))
        else:
            stages[-1].instructions.append((instr, " ".join(args.split())))
    return stages


def image() -> Stage:
    """The final stage: what the image runs."""
    return dockerfile_stages()[-1]


def compose() -> dict[str, Any]:
    (doc,) = load_all(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def k8s() -> dict[str, dict[str, Any]]:
    """The manifests by kind (one of each)."""
    out: dict[str, dict[str, Any]] = {}
    for doc in load_all(K8S):
        assert doc["kind"] not in out, f"two {doc['kind']} manifests"
        out[doc["kind"]] = doc
    return out
