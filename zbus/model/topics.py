"""Topic grammar: validating concrete topics, compiling subscription patterns, and routing by topic.

A topic is a dot-separated list of non-empty tokens, like ``orders.created``. Tokens may hold any
printable character except ``.``, ``*``, ``#``, ``>``, whitespace and NUL, and a topic is at most
255 UTF-8 bytes. Topics starting with ``$zbus.`` are reserved for zbus itself; no other topic may
start with ``$``.

Subscription patterns use whole-token wildcards: ``*`` matches exactly one token and ``**`` any
number of tokens, including none (``orders.**`` matches ``orders`` and ``orders.a.b``). Patterns
that do not start with ``$zbus`` never match system topics, so ``**`` does not leak zbus traffic.
Everything here is pure (no I/O) and compiled once, because matching runs for every event.
"""

from __future__ import annotations

import functools
import re
from operator import itemgetter
from typing import Generic, TypeVar

from ..errors import InvalidTopicError

__all__ = [
    "MAX_TOPIC_BYTES",
    "SYSTEM_PREFIX",
    "RegexPattern",
    "TopicIndex",
    "TopicPattern",
    "compile_pattern",
    "parse_announced",
    "patterns_overlap",
    "regex_cover",
    "validate_topic",
]

SYSTEM_PREFIX = "$zbus."
"""Prefix of the topics zbus uses itself; user code may not publish there."""

MAX_TOPIC_BYTES = 255
"""Longest allowed topic or pattern, in UTF-8 bytes."""

_SYSTEM_TOKEN = SYSTEM_PREFIX[:-1]
_EXAMPLE = "topics are dot-separated non-empty tokens like 'orders.new'"
# A token has no dot, wildcard-like char, whitespace or NUL; str.isprintable() (fast C) does the rest.
_TOKEN = r"[^.*#>\s\x00]+"
_VALID_TOPIC = re.compile(rf"{_TOKEN}(?:\.{_TOKEN})*").fullmatch
_VALID_TOKEN = re.compile(_TOKEN).fullmatch
_ONE = r"[^.]+"
# Recently validated user topics: publishers repeat topics, and a dict hit is much cheaper than the regex.
_known_topics: dict[str, None] = {}  # bounded: cleared when it reaches 4096 entries

T = TypeVar("T")


def _too_long(text: str) -> bool:
    # A code point is at most 4 UTF-8 bytes, so short strings need no encoding.
    return len(text) > MAX_TOPIC_BYTES // 4 and len(text.encode()) > MAX_TOPIC_BYTES


def _token_problem(kind: str, text: str, token: str) -> str | None:
    """Explain why ``token`` (part of ``text``) is not a valid literal token, or return None."""
    if token == "":
        return f"{kind} {text!r} has an empty token; {_EXAMPLE}"
    for ch in token:
        if ch in "*#>":
            return None  # reported by the caller, which knows whether wildcards are allowed
        if ch.isspace():
            return f"{kind} {text!r} contains whitespace {ch!r}; {_EXAMPLE} (use '_' or '-' instead)"
        if ch == "\x00" or not ch.isprintable():
            return f"{kind} {text!r} contains the non-printable character {ch!r}; remove it"
    return None


def _explain_topic(topic: str) -> str:
    """Build the error message for a topic that failed the fast check (slow path only)."""
    for ch in "*#>":
        if ch in topic:
            return (
                f"topic {topic!r} contains the wildcard character {ch!r}; wildcards are for subscriptions, "
                f"publish to a concrete topic like 'orders.created'"
            )
    problems = (_token_problem("topic", topic, token) for token in topic.split("."))
    return next(filter(None, problems), f"topic '' is empty; {_EXAMPLE}")


def validate_topic(topic: str, *, allow_system: bool = False) -> str:
    """Check that ``topic`` is a concrete topic you may publish to.

    Args:
        topic: the topic, e.g. ``"orders.created"``.
        allow_system: accept topics under ``$zbus.`` (zbus internals only). Default False.

    Returns:
        ``topic`` unchanged, so the call can wrap an assignment.

    Raises:
        InvalidTopicError: the topic is not a str, is empty, longer than 255 UTF-8 bytes, has an empty
            token, a wildcard, whitespace or a non-printable character, or starts with ``$`` (reserved).
    """
    if type(topic) is not str:
        raise InvalidTopicError(f"topic {topic!r} is a {type(topic).__name__}; pass a str like 'orders.new'")
    if topic in _known_topics:
        return topic
    if not (_VALID_TOPIC(topic) and topic.isprintable()):
        raise InvalidTopicError(_explain_topic(topic) if topic else f"topic '' is empty; {_EXAMPLE}")
    if _too_long(topic):
        raise InvalidTopicError(
            f"topic {topic[:40]!r}... is {len(topic.encode())} UTF-8 bytes; "
            f"the limit is {MAX_TOPIC_BYTES}, use a shorter topic and put details in the payload"
        )
    if topic[0] == "$" and not (allow_system and topic.startswith(SYSTEM_PREFIX)):
        raise InvalidTopicError(
            f"topic {topic!r} starts with '$', which is reserved for zbus system topics "
            f"({SYSTEM_PREFIX!r}...); only zbus publishes there, pick a topic without the '$'"
        )
    if topic[0] != "$":  # system topics must not skip the allow_system check next time
        if len(_known_topics) >= 4096:
            _known_topics.clear()
        _known_topics[topic] = None
    return topic


def _parse_pattern(pattern: str) -> list[str]:
    """Split and validate a subscription pattern; return its tokens."""
    if type(pattern) is not str:
        raise InvalidTopicError(f"pattern {pattern!r} is a {type(pattern).__name__}; pass a str like 'a.*'")
    if not pattern:
        raise InvalidTopicError("pattern '' is empty; subscribe to e.g. 'orders.*', or '**' for everything")
    if _too_long(pattern):
        raise InvalidTopicError(
            f"pattern {pattern[:40]!r}... is longer than {MAX_TOPIC_BYTES} UTF-8 bytes; use a shorter pattern"
        )
    tokens = pattern.split(".")
    for i, token in enumerate(tokens):
        if token in ("*", "**") or (_VALID_TOKEN(token) and token.isprintable()):
            if i == 0 and token[0] == "$" and token != _SYSTEM_TOKEN:
                raise InvalidTopicError(
                    f"pattern {pattern!r} starts with '$', which is reserved for zbus system topics; "
                    f"remove the '$' (only '{_SYSTEM_TOKEN}.' patterns may start with it)"
                )
            continue
        problem = _token_problem("pattern", pattern, token)
        if problem:
            raise InvalidTopicError(problem)
        raise InvalidTopicError(
            f"pattern {pattern!r} has {token!r}, a wildcard inside a token; wildcards must be whole tokens: "
            f"'*' matches one token and '**' any number (e.g. 'orders.*'); '#' and '>' are not wildcards here"
        )
    return tokens


def _pattern_regex(tokens: list[str]) -> str:
    """Translate pattern tokens (runs of ``**`` already collapsed) to a regex for ``re.fullmatch``."""
    # Tokens between two '**' match at their earliest place, in an atomic group (as glob matchers
    # do; no later place can do better), so several '**' cannot backtrack through every split.
    groups: list[list[str]] = [[]]
    for token in tokens:
        if token == "**":
            groups.append([])
        else:
            groups[-1].append(token)
    parts = [r"\.".join(_ONE if t == "*" else re.escape(t) for t in group) for group in groups]
    regex = parts[0]
    for i, part in enumerate(parts[1:], 1):
        lazy = "?" if i < len(parts) - 1 else ""  # the tail after the last '**' is anchored by fullmatch
        if regex:
            step = rf"(?:\.{_ONE})*{lazy}" + (rf"\.{part}" if part else "")
        else:  # a leading '**': zero or more tokens, each followed by its dot
            step = rf"(?:{_ONE}\.)*{lazy}{part}" if part else rf"{_ONE}(?:\.{_ONE})*"
        regex += rf"(?>{step}(?![^.]))" if lazy else step
    return regex


def _literal_prefix(tokens: list[str]) -> str:
    """The longest string every topic matched by ``tokens`` starts with."""
    n = next((i for i, t in enumerate(tokens) if t in ("*", "**")), len(tokens))
    head = ".".join(tokens[:n])
    if n == len(tokens) or (n == len(tokens) - 1 and tokens[n] == "**"):
        return head  # no wildcard, or a final '**' that may match nothing ('orders.**' matches 'orders')
    return head + "." if head else ""


class TopicPattern:
    """A compiled subscription pattern; build it with ``compile_pattern`` to share the cache.

    Attributes:
        pattern: the pattern text, e.g. ``"orders.*"``.
        is_literal: True when the pattern has no wildcard (it matches one topic).
        is_system: True for patterns starting with ``$zbus``, the only ones that match system topics.
        prefix: a string every matching topic starts with, usable as a ZeroMQ SUB prefix filter
            (``"orders."`` for ``"orders.*"``, ``"orders"`` for ``"orders.**"``, ``""`` for ``"**"``).
    """

    __slots__ = ("_fullmatch", "is_literal", "is_system", "pattern", "prefix", "tokens")

    def __init__(self, pattern: str) -> None:
        """Compile ``pattern``.

        Args:
            pattern: dot-separated tokens; ``*`` matches one token, ``**`` any number (even zero).

        Raises:
            InvalidTopicError: the pattern is not a str, is empty or too long, has an empty or invalid
                token, a partial wildcard like ``ord*``, or starts with ``$`` other than ``$zbus``.
        """
        tokens = _parse_pattern(pattern)
        # 'a.**.**' means 'a.**'; collapsing keeps the regex free of nested stars that backtrack.
        tokens = [t for i, t in enumerate(tokens) if not (t == "**" and i and tokens[i - 1] == "**")]
        self.pattern: str = pattern
        self.tokens: tuple[str, ...] = tuple(tokens)
        self.is_system: bool = tokens[0] == _SYSTEM_TOKEN
        self.is_literal: bool = "*" not in tokens and "**" not in tokens
        self.prefix: str = _literal_prefix(tokens)
        self._fullmatch: re.Pattern[str] | None = None
        if not self.is_literal:
            regex = _pattern_regex(tokens)
            if tokens[0] in ("*", "**"):
                regex = r"(?!\$)" + regex  # a leading wildcard must not reach '$zbus.' system topics
            self._fullmatch = re.compile(regex)

    def matches(self, topic: str) -> bool:
        """Return True when ``topic`` matches this pattern."""
        if self._fullmatch is None:
            return topic == self.pattern
        return self._fullmatch.fullmatch(topic) is not None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TopicPattern):
            return self.pattern == other.pattern
        return NotImplemented

    def __hash__(self) -> int:
        return hash((TopicPattern, self.pattern))

    def __repr__(self) -> str:
        return f"TopicPattern({self.pattern!r})"


class RegexPattern:
    """A regular-expression subscription (``node.on_pattern``); the whole topic must match.

    System topics (``$zbus.``...) never match. Plain ``TopicPattern`` wildcards are faster and let
    ZeroMQ filter by prefix, so prefer them when they can express the subscription.

    A regex never goes on the wire: peers would have to run it (a hostile one backtracks for
    minutes). The node announces :attr:`cover` instead, a topic pattern that matches every topic the
    regex can match (its leading literal tokens, then ``**``), subscribes its SUBs to that prefix and
    applies the regex itself, locally.

    Attributes:
        pattern: the regular expression text.
        cover: the topic pattern announced in its place: ``orders.**`` for ``orders\\.(new|paid)``, the
            topic itself for a regex without metacharacters, ``**`` when no literal token leads.
        is_literal: always False.
        prefix: always ``""`` (the regex itself gives no ZeroMQ prefix; ``cover``'s does).
    """

    __slots__ = ("_fullmatch", "cover", "pattern")

    is_literal = False
    is_system = False
    prefix = ""

    def __init__(self, regex: str) -> None:
        """Compile ``regex``.

        Args:
            regex: a Python regular expression matched with ``re.fullmatch`` against the topic.

        Raises:
            InvalidTopicError: ``regex`` is not a str or does not compile.
        """
        if type(regex) is not str:
            raise InvalidTopicError(
                f"regex {regex!r} is a {type(regex).__name__}; pass a str like r'orders\\.(created|paid)'"
            )
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise InvalidTopicError(
                f"regex {regex!r} does not compile: {exc}; fix the expression (escape literal dots as '\\.')"
            ) from exc
        self.pattern: str = regex
        self.cover: str = regex_cover(regex)
        self._fullmatch = compiled.fullmatch

    def matches(self, topic: str) -> bool:
        """Return True when the whole ``topic`` matches the regex and is not a system topic."""
        return topic[:1] != "$" and self._fullmatch(topic) is not None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RegexPattern):
            return self.pattern == other.pattern
        return NotImplemented

    def __hash__(self) -> int:
        return hash((RegexPattern, self.pattern))

    def __repr__(self) -> str:
        return f"RegexPattern({self.pattern!r})"


def _top_level_alternation(regex: str) -> bool:
    """Whether ``regex`` has a ``|`` outside every group and character class."""
    depth, i, in_class = 0, 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            i += regex[i : i + 1] == "^"
            i += regex[i : i + 1] == "]"  # a ']' first in a class is a literal ']'
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def regex_cover(regex: str) -> str:
    """The topic pattern that matches every topic ``regex`` can fully match (see ``RegexPattern.cover``).

    Conservative by construction: only a leading run of letters, digits, ``_``, ``-`` and escaped dots
    counts as literal; a character followed by ``*``, ``?`` or ``{`` is not part of it; anything else
    (groups, classes, other escapes, ``^``/``$``, flags) ends it, and a top-level ``|`` means ``**``.
    """
    if _top_level_alternation(regex):
        return "**"
    chars: list[str] = []
    i = 1 if regex.startswith("^") else 0
    while i < len(regex):
        if regex[i] == "\\" and regex[i + 1 : i + 2] == ".":
            char, step = ".", 2
        elif regex[i].isalnum() or regex[i] in "_-":
            char, step = regex[i], 1
        else:
            break
        after = regex[i + step : i + step + 1]
        if after and after in "*?{":
            break  # optional or counted: not certain to be there
        chars.append(char)
        i += step
        if after == "+":
            break  # there at least once, then unknown
    literal = "".join(chars)
    if i == len(regex) and literal:  # no metacharacter at all: the regex is one topic
        candidate = literal
    else:
        tokens = literal.split(".")[:-1]  # the last token may be cut short
        candidate = ".".join([*tokens, "**"]) if tokens else "**"
    try:
        return compile_pattern(candidate).pattern
    except InvalidTopicError:  # an empty token ('a..b') or over 255 bytes: fall back to everything
        return "**"


@functools.lru_cache(maxsize=1024)
def _compile_cached(pattern: str) -> TopicPattern:
    return TopicPattern(pattern)


def compile_pattern(pattern: str) -> TopicPattern:
    """Return the compiled ``TopicPattern`` for ``pattern``, from an LRU cache of 1024 entries.

    Args:
        pattern: a subscription pattern such as ``"orders.*"`` or ``"orders.**"``.

    Returns:
        The (shared, immutable) compiled pattern.

    Raises:
        InvalidTopicError: the pattern is malformed; the message names the rule and the fix.
    """
    if type(pattern) is not str:
        return TopicPattern(pattern)  # raises the helpful error; non-str values may be unhashable
    return _compile_cached(pattern)


class TopicIndex(Generic[T]):
    """Maps patterns to values and answers "which values want this topic?" quickly.

    Literal patterns live in a dict (one lookup); wildcard and regex patterns are tried in turn.
    Results are cached per topic in a bounded dict that every ``add``/``remove`` clears.
    """

    __slots__ = ("_cache", "_cache_size", "_literal", "_seq", "_wild")

    def __init__(self, *, cache_size: int = 4096) -> None:
        """Create an empty index.

        Args:
            cache_size: how many distinct topics' results to remember (default 4096); the oldest
                entry is evicted first.
        """
        self._literal: dict[str, list[tuple[int, T]]] = {}
        self._wild: list[tuple[int, TopicPattern | RegexPattern, T]] = []
        self._cache: dict[str, list[T]] = {}
        self._cache_size = max(1, cache_size)
        self._seq = 0

    def add(self, pattern: TopicPattern | RegexPattern, value: T) -> None:
        """Route topics matching ``pattern`` to ``value``; adding the same pair twice stores it twice."""
        self._seq += 1
        if pattern.is_literal:
            self._literal.setdefault(pattern.pattern, []).append((self._seq, value))
        else:
            self._wild.append((self._seq, pattern, value))
        self._cache = {}

    def remove(self, pattern: TopicPattern | RegexPattern, value: T) -> bool:
        """Remove one ``(pattern, value)`` pair; values are compared by identity.

        Returns:
            True if the pair was found and removed, False if it was not in the index.
        """
        if pattern.is_literal:
            entries = self._literal.get(pattern.pattern, [])
            for i, (_, v) in enumerate(entries):
                if v is value:
                    del entries[i]
                    if not entries:
                        del self._literal[pattern.pattern]
                    self._cache = {}
                    return True
            return False
        for i, (_, p, v) in enumerate(self._wild):
            if v is value and p == pattern:
                del self._wild[i]
                self._cache = {}
                return True
        return False

    def match(self, topic: str) -> list[T]:
        """Return the values of all patterns matching ``topic``, each value once, in insertion order.

        The returned list is cached and shared: iterate it, do not mutate it.
        """
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        hits = self._literal.get(topic)
        found: list[tuple[int, T]] = list(hits) if hits else []
        literal_count = len(found)
        found.extend((seq, value) for seq, pattern, value in self._wild if pattern.matches(topic))
        if literal_count and len(found) > literal_count:
            found.sort(key=itemgetter(0))
        result: list[T] = []
        if len(found) == 1:
            result.append(found[0][1])
        elif found:
            seen: set[int] = set()
            for _, value in found:
                if id(value) not in seen:
                    seen.add(id(value))
                    result.append(value)
        cache = self._cache
        if len(cache) >= self._cache_size:
            del cache[next(iter(cache))]
        cache[topic] = result
        return result

    def __len__(self) -> int:  # the number of (pattern, value) pairs
        return len(self._wild) + sum(len(v) for v in self._literal.values())

    def __repr__(self) -> str:
        return f"<TopicIndex literal={len(self._literal)} wildcard={len(self._wild)}>"


@functools.lru_cache(maxsize=1024)
def parse_announced(announced: str) -> TopicPattern:
    """A peer's announced pattern: a topic pattern only (``on_pattern`` regexes announce their cover).

    Raises:
        InvalidTopicError: the announcement is not a valid topic pattern, or is a regex (``re:...``,
            which older zbus versions announced): a peer's regex is never evaluated here (callers
            drop it and count ``remote_regex``).
    """
    if announced.startswith("re:"):
        raise InvalidTopicError(
            f"announced pattern {announced[:60]!r} is a regex; peers' regexes are not evaluated "
            "(the peer runs an older zbus: upgrade it)"
        )
    return compile_pattern(announced)


def patterns_overlap(a: TopicPattern | RegexPattern, b: TopicPattern | RegexPattern) -> bool:
    """True when some topic matches both patterns (``orders.*`` and ``*.created`` do).

    A regex pattern overlaps a literal topic it matches; against a wildcard pattern it is
    undecidable here and counts as no overlap (so waits err on the side of waiting).
    """
    if isinstance(a, RegexPattern) or isinstance(b, RegexPattern):
        literal, other = (b, a) if isinstance(a, RegexPattern) else (a, b)
        return isinstance(literal, TopicPattern) and literal.is_literal and other.matches(literal.pattern)
    if a.is_system != b.is_system:
        return False
    return _tokens_overlap(a.tokens, b.tokens)


@functools.lru_cache(maxsize=4096)
def _tokens_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    @functools.cache
    def ov(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "**":
            return ov(i + 1, j) or (j < len(b) and ov(i, j + 1))
        if j < len(b) and b[j] == "**":
            return ov(i, j + 1) or (i < len(a) and ov(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == "*" or b[j] == "*" or a[i] == b[j]) and ov(i + 1, j + 1)

    return ov(0, 0)
