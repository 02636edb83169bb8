"""A reader for the YAML subset the deployment files are written in (compose.yaml, deploy/k8s/*.yaml).

PyYAML is not a zbus dependency, so the tests read these files with this, and the files keep to
what it reads: block mappings and sequences (``- `` items, mappings inside items), plain, single-
and double-quoted scalars, flow sequences of scalars (``[a, "b c"]``), ``|`` literal blocks, ``#``
comments and ``---`` between documents. No anchors, aliases, merge keys, tags or flow mappings
(those raise, naming the line), so a file that strays from the subset fails its test instead of
being misread. Where an interpreter with PyYAML exists, test_deploy_files.py checks that both
readers agree on every file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["YamlSubsetError", "load_all"]

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?")


class YamlSubsetError(ValueError):
    """The text uses YAML this reader does not support (or is not YAML); the message names the line."""


def _scalar(text: str, where: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text[0] in "&*!{" or text.startswith("<<"):
        raise YamlSubsetError(f"{where}: anchors, aliases, tags and flow mappings are outside the subset")
    if text[0] == '"':
        return json.loads(text)  # the files use JSON-compatible double-quoted strings
    if text[0] == "'":
        if not text.endswith("'"):
            raise YamlSubsetError(f"{where}: unterminated single-quoted string")
        return text[1:-1].replace("''", "'")
    if text[0] == "[":
        if not text.endswith("]"):
            raise YamlSubsetError(f"{where}: a flow sequence must end on its line")
        inner = text[1:-1].strip()
        return [] if not inner else [_scalar(part, where) for part in _split_flow(inner, where)]
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if text in ("null", "~", "Null", "NULL"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _split_flow(inner: str, where: str) -> list[str]:
    parts, current, quote = [], "", ""
    for ch in inner:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch in "[{":
            raise YamlSubsetError(f"{where}: nested flow collections are outside the subset")
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (i == 0 or line[i - 1] in " [:,-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line.rstrip()


def _key_value(content: str, where: str) -> tuple[str, str] | None:
    """``key: value`` -> (key, value text); None when ``content`` is not a mapping entry."""
    match = re.match(r'^("(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s"\'#][^:#]*?):(?:\s+(.*))?$', content)
    if match is None:
        return None
    key = match[1]
    key = _scalar(key, where) if key[0] in "\"'" else key
    return str(key), match[2] or ""


class _Reader:
    def __init__(self, lines: list[tuple[int, int, str]], raw: list[str], name: str) -> None:
        self.lines = lines  # (line number, indent, content) of meaningful lines
        self.raw = raw
        self.name = name
        self.i = 0

    def where(self, number: int) -> str:
        return f"{self.name}:{number}"

    def block(self, indent: int) -> Any:
        number, ind, content = self.lines[self.i]
        if ind != indent:
            raise YamlSubsetError(f"{self.where(number)}: expected indentation {indent}, found {ind}")
        if content == "-" or content.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def value(self, text: str, number: int, parent_indent: int) -> Any:
        if text in ("|", "|-", "|+"):
            return self.literal(number, parent_indent, text)
        if text:
            return _scalar(text, self.where(number))
        if self.i < len(self.lines) and self.lines[self.i][1] > parent_indent:
            return self.block(self.lines[self.i][1])
        if (
            self.i < len(self.lines)
            and self.lines[self.i][1] == parent_indent
            and self.lines[self.i][2][:1] == "-"
        ):
            return self.sequence(parent_indent)  # a sequence at the key's own indent (compact style)
        return None

    def literal(self, number: int, parent_indent: int, style: str) -> str:
        body: list[str] = []
        raw_index = number  # raw lines are 0-based: the literal starts on the next line
        indent: int | None = None
        while raw_index < len(self.raw):
            line = self.raw[raw_index]
            if line.strip() and (len(line) - len(line.lstrip(" "))) <= parent_indent:
                break
            if line.strip() and indent is None:
                indent = len(line) - len(line.lstrip(" "))
            body.append(line[indent:] if indent is not None and line.strip() else "")
            raw_index += 1
        while self.i < len(self.lines) and self.lines[self.i][0] <= raw_index:
            self.i += 1  # the literal's lines are not YAML structure
        while body and not body[-1]:
            body.pop()
        text = "\n".join(body)
        return text + "\n" if style != "|-" and body else text

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.i < len(self.lines):
            number, ind, content = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent:
                raise YamlSubsetError(f"{self.where(number)}: unexpected indentation")
            if content[:1] == "-" and (content == "-" or content[1] == " "):
                break  # a compact sequence under a parent key ends here
            kv = _key_value(content, self.where(number))
            if kv is None:
                raise YamlSubsetError(f"{self.where(number)}: expected 'key: value', got {content!r}")
            key, text = kv
            if key in out:
                raise YamlSubsetError(f"{self.where(number)}: duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(text, number, indent)
        return out

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self.i < len(self.lines):
            number, ind, content = self.lines[self.i]
            if ind != indent or not (content == "-" or content.startswith("- ")):
                if ind > indent:
                    raise YamlSubsetError(f"{self.where(number)}: unexpected indentation")
                break
            rest = content[1:].strip()
            if not rest:
                self.i += 1
                out.append(self.value("", number, indent))
                continue
            if _key_value(rest, self.where(number)) is not None and rest[0] not in "[\"'":
                # "- key: value" opens a mapping whose keys sit at indent + 2
                self.lines[self.i] = (number, indent + 2, rest)
                out.append(self.mapping(indent + 2))
                continue
            self.i += 1
            out.append(self.value(rest, number, indent))
        return out


def load_all(path: Path) -> list[Any]:
    """Every document of the YAML file at ``path``, read as the subset.

    Raises:
        YamlSubsetError: the file uses YAML outside the subset, naming the line.
    """
    raw = path.read_text(encoding="utf-8").splitlines()
    if any("\t" in line[: len(line) - len(line.lstrip())] for line in raw):
        raise YamlSubsetError(f"{path}: tabs in indentation")
    documents: list[list[tuple[int, int, str]]] = [[]]
    for number, line in enumerate(raw, 1):
        if line.strip() == "---":
            documents.append([])
            continue
        content = _strip_comment(line)
        if content.strip():
            documents[-1].append((number, len(content) - len(content.lstrip(" ")), content.strip()))
    out = []
    for lines in documents:
        if not lines:
            continue
        reader = _Reader(lines, raw, str(path))
        out.append(reader.block(lines[0][1]))
        if reader.i != len(lines):
            number = lines[reader.i][0]
            raise YamlSubsetError(f"{reader.where(number)}: unexpected content (indentation?)")
    return out
