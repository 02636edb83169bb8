"""The docs never call something planned (or future, TODO, next milestone, ...) that the public API has.

Public names: ``zbus.__all__``, the public members of ``Node``, ``BlockingNode`` and ``Subscription``,
the ``zbus`` CLI commands (``zbus journal stats``), every config key (``persistence.retention.default``)
and every ``zbus_*`` metric, plus a few built features in plain words (gap repair, replay, retention,
...). A marker word and such a name in one sentence (or one table row) of README.md, docs/*.md or
tests/lab/README.md fail the test. Code blocks are not read.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click

import zbus
import zbus.monitoring.metrics
from zbus.tools.cli import cli

ROOT = Path(__file__).resolve().parents[2]

# Config keys that exist although what they configure is not built; the docs rightly say so.
NOT_BUILT = {
    "performance.batch_size": "send batching: validated, read by nothing",
    "performance.flush_interval": "send batching: validated, read by nothing",
}

MARKERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bplanned\b",
        r"\bnot\s+(?:yet\s+)?(?:available|implemented|supported|built|wired|released|exposed)\s+yet\b",
        r"\bnot\s+yet\s+(?:available|implemented|supported|built|wired|released|exposed)\b",
        r"\b(?:does|do)(?:\s+not|n't)\s+exist\s+yet\b",
        r"\bnext\s+milestone\b",
        r"\bcoming\s+soon\b",
        r"\bupcoming\b",
        r"\broadmap\b",
        r"\bin\s+(?:a|the)\s+future\b",
        r"\bfuture\s+(?:release|version|milestone|work|issue|feature|plan)s?\b",
        r"\bwill\s+be\s+(?:added|implemented|built|supported|available)\b",
        r"\buntil\s+(?:\w+\s+){0,3}(?:exists|is\s+built|lands|ships)\b",
    )
] + [re.compile(r"\b(?:TODO|TBD)\b")]

# Features that exist, caught in plain words too ("Repair from the journal is the next milestone").
FEATURES = re.compile(
    r"\b(?:gap repair|repair(?:s|ed)?|replay(?:s|ed)?|durable subscriptions?|retention|dead[- ]letters?"
    r"|forwarder)\b",
    re.IGNORECASE,
)

OWNERS = {"zbus", "Node", "node", "BlockingNode", "Subscription", "sub", "subscription"}


def _config_keys(cls: type, prefix: str = "") -> Iterator[str]:
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        factory = f.default_factory
        if isinstance(factory, type) and dataclasses.is_dataclass(factory):
            if prefix:
                yield dotted  # a nested table such as persistence.retention
            yield from _config_keys(factory, dotted + ".")
        elif prefix:
            yield dotted


def _commands(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        yield prefix + name
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def public_names() -> set[str]:
    names = {n for n in zbus.__all__ if not n.startswith("_")}
    for cls in (zbus.Node, zbus.BlockingNode, zbus.Subscription):
        members = {n for n in dir(cls) if not n.startswith("_")}
        names |= members | {f"{cls.__name__}.{n}" for n in members}
    names |= set(_config_keys(zbus.Config)) - set(NOT_BUILT)
    for metric in re.findall(r'"(zbus_[a-z_]+)"', inspect.getsource(zbus.monitoring.metrics)):
        names |= {metric, f"{metric}_total", f"{metric}_info"}
    return names


COMMANDS = sorted(_commands(cli), key=len, reverse=True)
NAMES = public_names()


def names_in(span: str) -> set[str]:
    """The public names a backticked span mentions: `subscribe(replay=)`, `Node.replay`, `zbus replay`."""
    found = {f"zbus {c}" for c in COMMANDS if re.match(rf"zbus {re.escape(c)}(?![\w-])", span)}
    for token in re.findall(r"[A-Za-z_][\w.]*", span):
        token = token.rstrip(".")
        if token in NAMES:
            found.add(token)
        owner, _, member = token.partition(".")
        if owner in OWNERS and member in NAMES:
            found.add(member)
    return found


def units(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each sentence and table row outside fenced code blocks."""
    fenced = False
    para: list[tuple[int, str]] = []

    def flush() -> Iterator[tuple[int, str]]:
        if para:
            start, joined = para[0][0], " ".join(line for _, line in para)
            for sentence in re.split(r"(?<=[.!?])\s+", joined):
                yield start, sentence
            para.clear()

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            yield from flush()
            fenced = not fenced
            continue
        if fenced:
            continue
        line = line.lstrip("> ").strip()
        if not line or line.startswith(("|", "#")):
            yield from flush()
            if line:
                yield number, line
            continue
        if re.match(r"(?:[-*+]|\d+\.)\s", line):
            yield from flush()
        para.append((number, line))
    yield from flush()


def false_claims(text: str) -> list[str]:
    problems = []
    for number, unit in units(text):
        marker = next((m.group(0) for p in MARKERS if (m := p.search(unit))), None)
        if marker is None:
            continue
        names = set().union(*(names_in(span) for span in re.findall(r"`([^`]+)`", unit)))
        names |= {f.group(0).lower() for f in FEATURES.finditer(re.sub(r"`[^`]+`", "", unit))}
        if names:
            problems.append(f"line {number}: {marker!r} next to {sorted(names)}: {unit[:160]}")
    return problems


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests/lab/README.md"]


def test_docs_do_not_call_existing_names_planned() -> None:
    report = []
    for path in doc_files():
        report += [f"{path.relative_to(ROOT)} {p}" for p in false_claims(path.read_text(encoding="utf-8"))]
    assert not report, "docs mark as planned what exists:\n" + "\n".join(report)


def test_the_check_catches_planted_lines() -> None:
    assert (
        "Node.replay" in NAMES
        and "persistence.retention.default" in NAMES
        and "zbus forwarder" in {f"zbus {c}" for c in COMMANDS}
    )
    planted = [
        "Gap repair and `subscribe(replay=...)` are planned.",
        "| `zbus_gaps_repaired_total` | counter | | Holes repaired (0 until repair exists). |",
        "> **Not available yet.** Durable subscriptions\n> (`subscribe(durable=)`) come later.",
        "- `Node.replay`: the next milestone.",
        "`zbus forwarder` will be added in a future release.",
        "TODO: document `persistence.retention.max_size`.",
        "Repair from an LMDB journal is the next milestone.",
        "Durable subscriptions are planned (the journal issue).",
    ]
    for line in planted:
        assert false_claims(line), line
    honest = [
        "CurveZMQ is not built: `security.curve = true` is rejected (planned).",
        "Gap repair is built. Encryption is planned. `subscribe(replay=...)` exists.",
        "Consumer groups are not built yet.",
        "```python\n# TODO `Node.replay` planned\n```",
        "it creates a future for every `recv`",
    ]
    for line in honest:
        assert not false_claims(line), line
