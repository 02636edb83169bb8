"""A doc never calls planned what exists: no line marks a public name as planned, future or not built.

A line that carries a marker word ("planned", "not available yet", "not built", "next milestone",
"future", "coming soon", "TODO") and names, in backticks, something the public API has (a name in
``zbus.__all__``, a public method of Node, BlockingNode or Subscription, a ``zbus`` CLI command, a
``section.key`` of ``Config``, or a ``key=`` option of those methods) fails this test.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import zbus
from zbus.config import Config
from zbus.tools.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests" / "lab" / "README.md"]
MARKERS = re.compile(
    r"\b(planned|not available yet|not (?:yet )?built|not yet implemented|next milestone|in a future|"
    r"future (?:release|version|work)|coming soon|TODO)\b",
    re.IGNORECASE,
)
BACKTICKED = re.compile(r"`([^`]+)`")


def public_names() -> set[str]:
    names = set(zbus.__all__)
    for cls in (zbus.Node, zbus.BlockingNode, zbus.Subscription):
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            names.add(name)
            if callable(member):
                try:
                    parameters = inspect.signature(member).parameters
                except (TypeError, ValueError):
                    continue
                names.update(f"{p}=" for p in parameters if p not in ("self", "args", "kwargs"))
    names.update(f"zbus {command}" for command in cli.commands)  # type: ignore[attr-defined]

    def keys(section: object, prefix: str) -> None:
        for f in dataclasses.fields(section):  # type: ignore[arg-type]
            value = getattr(section, f.name)
            if dataclasses.is_dataclass(value):
                names.update({f"[{prefix}{f.name}]", f"{prefix}{f.name}"})
                keys(value, f"{prefix}{f.name}.")
            else:
                names.add(f"{prefix}{f.name}")

    keys(Config(), "")
    return names


def planned_public_names(lines: list[str], names: set[str]) -> list[str]:
    """``"file:line: name"`` for every line that marks a public name as planned."""
    found = []
    for number, line in lines:
        if not MARKERS.search(line):
            continue
        for quoted in BACKTICKED.findall(line):
            token = quoted.strip()
            head = token.split("(")[0].rstrip()  # `subscribe(replay=)` names subscribe and replay=
            options = {m + "=" for m in re.findall(r"(\w+)=", token)}
            hits = ({token, head} | options) & names
            if hits:
                found.append(f"{number}: {sorted(hits)[0]} ({line.strip()[:100]})")
    return found


def test_no_doc_calls_an_existing_name_planned() -> None:
    names = public_names()
    problems = []
    for doc in DOCS:
        lines = [
            (f"{doc.relative_to(ROOT)}:{i}", line) for i, line in enumerate(doc.read_text().splitlines(), 1)
        ]
        problems += planned_public_names(lines, names)
    assert not problems, "docs mark existing public names as planned:\n" + "\n".join(problems)


def test_the_check_catches_a_planned_name() -> None:
    names = public_names()
    assert "replay=" in names and "zbus replay" in names and "persistence.retention" in names
    planted = [
        ("doc:1", "Replay for late joiners (`subscribe(replay=)`) is planned."),
        ("doc:2", "`zbus dlq` is the next milestone."),
        ("doc:3", "Consumer groups (`group=`) are not built yet."),  # not a public name: allowed
    ]
    found = planned_public_names(planted, names)
    assert [f.split(":")[1] for f in found] == ["1", "2"], found
