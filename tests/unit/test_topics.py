"""Tests for zbus.model.topics: the topic grammar, pattern matching, prefixes and the routing index."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus.errors import InvalidTopicError, UsageError
from zbus.model.topics import (
    SYSTEM_PREFIX,
    RegexPattern,
    TopicIndex,
    TopicPattern,
    compile_pattern,
    parse_announced,
    regex_cover,
    validate_topic,
)

# -- validate_topic ------------------------------------------------------------------------------


VALID = ["orders", "orders.created", "a.b.c.d", "ORD-1_x", "a.$b", "ü.日本", "x" * 255]


@pytest.mark.parametrize("topic", VALID)
def test_valid_topics_are_returned_unchanged(topic: str) -> None:
    assert validate_topic(topic) is topic


@pytest.mark.parametrize(
    ("topic", "fragment"),
    [
        ("", "is empty"),
        ("orders..new", "has an empty token; topics are dot-separated non-empty tokens like 'orders.new'"),
        (".orders", "empty token"),
        ("orders.", "empty token"),
        ("orders.*", "wildcards are for subscriptions, publish to a concrete topic"),
        ("orders.**", "wildcard"),
        ("ord*", "wildcard"),
        ("orders.#", "wildcard character '#'"),
        ("orders.>", "wildcard character '>'"),
        ("orders new", "whitespace"),
        ("orders.\tnew", "whitespace"),
        ("orders.\u00a0", "whitespace"),
        ("orders.\x00", "non-printable"),
        ("orders.\x07", "non-printable"),
        ("$orders", "starts with '$'"),
        ("$zbus.peer.joined", "reserved"),
        ("x" * 256, "UTF-8 bytes; the limit is 255"),
        ("é" * 128, "256 UTF-8 bytes"),
    ],
)
def test_invalid_topics_raise_with_a_helpful_message(topic: str, fragment: str) -> None:
    with pytest.raises(InvalidTopicError) as info:
        validate_topic(topic)
    assert fragment in str(info.value)


def test_error_message_quotes_the_topic() -> None:
    with pytest.raises(InvalidTopicError) as info:
        validate_topic("orders..new")
    assert str(info.value) == (
        "topic 'orders..new' has an empty token; topics are dot-separated non-empty tokens like 'orders.new'"
    )


@pytest.mark.parametrize("value", [None, 5, b"orders", ["orders"]])
def test_non_str_topics_are_rejected(value: object) -> None:
    with pytest.raises(InvalidTopicError, match="pass a str"):
        validate_topic(value)  # type: ignore[arg-type]


def test_invalid_topic_error_is_a_usage_error_and_value_error() -> None:
    with pytest.raises(UsageError):
        validate_topic("")
    with pytest.raises(ValueError):
        validate_topic("")


def test_system_topics_need_allow_system() -> None:
    assert SYSTEM_PREFIX == "$zbus."
    assert validate_topic("$zbus.peer.joined", allow_system=True) == "$zbus.peer.joined"
    with pytest.raises(InvalidTopicError):
        validate_topic("$zbus", allow_system=True)  # not under '$zbus.'
    with pytest.raises(InvalidTopicError):
        validate_topic("$other.x", allow_system=True)
    with pytest.raises(InvalidTopicError, match="wildcard"):
        validate_topic("$zbus.*", allow_system=True)


# -- TopicPattern ---------------------------------------------------------------------------------

MATCH_CASES = [
    ("orders.created", "orders.created", True),
    ("orders.created", "orders.create", False),
    ("orders.created", "orders.created.x", False),
    ("orders.*", "orders.a", True),
    ("orders.*", "orders", False),
    ("orders.*", "orders.a.b", False),
    ("orders.**", "orders", True),
    ("orders.**", "orders.a", True),
    ("orders.**", "orders.a.b", True),
    ("orders.**", "ordersx", False),
    ("orders.**", "ordersx.a", False),
    ("**", "a", True),
    ("**", "a.b.c", True),
    ("a.**.z", "a.z", True),
    ("a.**.z", "a.b.z", True),
    ("a.**.z", "a.b.c.z", True),
    ("a.**.z", "a.b.c", False),
    ("a.**.z", "a.zz", False),
    ("*.b", "a.b", True),
    ("*.b", "b", False),
    ("**.b", "b", True),
    ("**.b", "a.b", True),
    ("**.b", "a.bb", False),
    ("**.b", "ab", False),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.c", False),
    ("**.a.**.c", "ab.a.c", True),
    ("**.a.**.c", "ab.c", False),
    ("*.*", "a.b", True),
    ("a.**.**", "a", True),
    ("o.+", "o.+", True),  # regex metacharacters are literal in topic patterns
    ("o.+", "o.oo", False),
    ("$zbus.**", "$zbus.peer.joined", True),
    ("$zbus.peer.*", "$zbus.peer.left", True),
    ("**", "$zbus.peer.joined", False),
    ("*.peer.*", "$zbus.peer.joined", False),
    ("**.joined", "$zbus.peer.joined", False),
]


@pytest.mark.parametrize(("pattern", "topic", "expected"), MATCH_CASES)
def test_pattern_matches(pattern: str, topic: str, expected: bool) -> None:
    assert TopicPattern(pattern).matches(topic) is expected


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("orders.*", "orders."),
        ("orders.**", "orders"),
        ("a.*.c", "a."),
        ("**", ""),
        ("*", ""),
        ("*.b", ""),
        ("a.b", "a.b"),
        ("a.**.z", "a."),
        ("a.b.**.**", "a.b"),
        ("$zbus.**", "$zbus"),
    ],
)
def test_prefix(pattern: str, prefix: str) -> None:
    assert TopicPattern(pattern).prefix == prefix


def test_pattern_attributes_equality_and_repr() -> None:
    p = TopicPattern("orders.*")
    assert p.pattern == "orders.*"
    assert not p.is_literal
    assert not p.is_system
    assert TopicPattern("orders.new").is_literal
    assert TopicPattern("$zbus.peer.*").is_system
    assert repr(p) == "TopicPattern('orders.*')"
    assert p == TopicPattern("orders.*")
    assert p != TopicPattern("orders.**")
    assert hash(p) == hash(TopicPattern("orders.*"))
    assert len({p, TopicPattern("orders.*"), TopicPattern("x")}) == 2
    assert p != "orders.*"
    assert TopicPattern("a") != RegexPattern("a")


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "is empty"),
        ("ord*", "wildcards must be whole tokens"),
        ("orders.*x", "wildcards must be whole tokens"),
        ("***", "wildcards must be whole tokens"),
        ("orders.#", "'#' and '>' are not wildcards here"),
        ("orders.>", "not wildcards here"),
        ("orders..new", "empty token"),
        ("orders.", "empty token"),
        ("a b", "whitespace"),
        ("a.\x00", "non-printable"),
        ("$orders.*", "starts with '$'"),
        ("$zbusx.*", "starts with '$'"),
        ("a." + "b" * 300, "longer than 255"),
    ],
)
def test_invalid_patterns(pattern: str, fragment: str) -> None:
    with pytest.raises(InvalidTopicError) as info:
        TopicPattern(pattern)
    assert fragment in str(info.value)
    assert repr(pattern) in str(info.value) or len(pattern) > 255


@pytest.mark.parametrize("value", [None, 3, ["a"]])
def test_non_str_patterns(value: object) -> None:
    with pytest.raises(InvalidTopicError, match="pass a str"):
        TopicPattern(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidTopicError, match="pass a str"):
        compile_pattern(value)  # type: ignore[arg-type]


def test_compile_pattern_caches() -> None:
    assert compile_pattern("cache.test.*") is compile_pattern("cache.test.*")
    with pytest.raises(InvalidTopicError):
        compile_pattern("cache..bad")


def test_many_double_wildcards_do_not_backtrack() -> None:
    pattern = TopicPattern("**.a.**.a.**.a.**.a.**.b")
    topic = ".".join(["a"] * 120)
    start = time.perf_counter()
    assert not pattern.matches(topic)
    assert pattern.matches(topic + ".b")
    assert time.perf_counter() - start < 0.05


# -- RegexPattern ---------------------------------------------------------------------------------


def test_regex_pattern_full_match() -> None:
    p = RegexPattern(r"order\.(created|updated)")
    assert p.matches("order.created")
    assert not p.matches("order.created.x")  # full match, not search
    assert not p.matches("xorder.created")
    assert p.pattern == r"order\.(created|updated)"
    assert p.prefix == ""
    assert p.is_literal is False
    assert repr(p) == "RegexPattern('order\\\\.(created|updated)')"
    assert p == RegexPattern(r"order\.(created|updated)")
    assert hash(p) == hash(RegexPattern(r"order\.(created|updated)"))
    assert p != RegexPattern("x")


def test_regex_pattern_never_matches_system_topics() -> None:
    assert not RegexPattern(r".*").matches("$zbus.peer.joined")
    assert not RegexPattern(r"\$zbus\..*").matches("$zbus.peer.joined")
    assert RegexPattern(r".*").matches("anything.else")


def test_invalid_regex() -> None:
    with pytest.raises(InvalidTopicError) as info:
        RegexPattern("order.(")
    message = str(info.value)
    assert "'order.('" in message
    assert "missing )" in message
    assert isinstance(info.value.__cause__, Exception)
    with pytest.raises(InvalidTopicError, match="pass a str"):
        RegexPattern(5)  # type: ignore[arg-type]


# -- TopicIndex -----------------------------------------------------------------------------------


def test_index_literal_and_wildcard_in_insertion_order() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add(TopicPattern("orders.**"), "all")
    index.add(TopicPattern("orders.new"), "exact")
    index.add(RegexPattern(r"orders\.n.*"), "regex")
    index.add(TopicPattern("other"), "other")
    assert index.match("orders.new") == ["all", "exact", "regex"]
    assert index.match("orders") == ["all"]
    assert index.match("other") == ["other"]
    assert index.match("nothing") == []
    assert len(index) == 4


def test_index_returns_each_value_once() -> None:
    sub = SimpleNamespace(name="s")
    index: TopicIndex[SimpleNamespace] = TopicIndex()
    index.add(TopicPattern("a.*"), sub)
    index.add(TopicPattern("a.**"), sub)
    index.add(TopicPattern("a.b"), sub)
    assert index.match("a.b") == [sub]


def test_index_remove_is_by_identity_and_clears_the_cache() -> None:
    a, b = SimpleNamespace(v=1), SimpleNamespace(v=1)  # equal but distinct
    index: TopicIndex[SimpleNamespace] = TopicIndex()
    index.add(TopicPattern("x.*"), a)
    index.add(TopicPattern("x.*"), b)
    index.add(TopicPattern("x.y"), a)
    assert index.match("x.y") == [a, b]
    assert index.remove(TopicPattern("x.*"), b) is True
    assert index.match("x.y") == [a]
    assert index.remove(TopicPattern("x.*"), b) is False
    assert index.remove(TopicPattern("x.y"), b) is False
    assert index.remove(TopicPattern("x.y"), a) is True
    assert index.remove(TopicPattern("x.*"), a) is True
    assert index.match("x.y") == []
    assert len(index) == 0
    assert "TopicIndex" in repr(index)


def test_index_cache_is_bounded_and_invalidated_on_add() -> None:
    index: TopicIndex[int] = TopicIndex(cache_size=2)
    index.add(TopicPattern("**"), 1)
    for topic in ("a", "b", "c", "d"):
        assert index.match(topic) == [1]
    assert len(index._cache) == 2
    index.add(TopicPattern("d"), 2)
    assert index.match("d") == [1, 2]


def test_index_system_topics_only_reach_system_patterns() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add(TopicPattern("**"), "user")
    index.add(TopicPattern("$zbus.**"), "system")
    assert index.match("$zbus.peer.joined") == ["system"]
    assert index.match("orders") == ["user"]


# -- properties against a reference implementation -------------------------------------------------


def reference_match(pattern: list[str], topic: list[str]) -> bool:
    """Straightforward recursive matcher over token lists."""
    if not pattern:
        return not topic
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(reference_match(rest, topic[i:]) for i in range(len(topic) + 1))
    if not topic:
        return False
    if head == "*" or head == topic[0]:
        return reference_match(rest, topic[1:])
    return False


topic_tokens = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6)
topics = topic_tokens.map(".".join)
pattern_tokens = st.lists(st.sampled_from(["a", "b", "*", "**"]), min_size=1, max_size=6)
patterns = pattern_tokens.map(".".join)


@given(patterns, topics)
def test_matches_equals_reference(pattern: str, topic: str) -> None:
    assert TopicPattern(pattern).matches(topic) == reference_match(pattern.split("."), topic.split("."))


@given(patterns, topics)
def test_matching_topics_start_with_prefix(pattern: str, topic: str) -> None:
    compiled = TopicPattern(pattern)
    if compiled.matches(topic):
        assert topic.startswith(compiled.prefix)


@given(patterns)
def test_literal_patterns_are_their_own_prefix(pattern: str) -> None:
    compiled = TopicPattern(pattern)
    if compiled.is_literal:
        assert compiled.prefix == pattern
        assert compiled.matches(pattern)


@given(st.lists(st.tuples(patterns, st.integers(0, 5)), max_size=8), st.lists(topics, max_size=8), st.data())
def test_index_equals_brute_force(
    entries: list[tuple[str, int]], queries: list[str], data: st.DataObject
) -> None:
    values = [SimpleNamespace(n=i) for i in range(6)]
    index: TopicIndex[SimpleNamespace] = TopicIndex(cache_size=4)
    live: list[tuple[TopicPattern, SimpleNamespace]] = []
    for pattern, n in entries:
        compiled = compile_pattern(pattern)
        index.add(compiled, values[n])
        live.append((compiled, values[n]))
    remove_one: bool = data.draw(st.booleans())
    if live and remove_one:
        victim = live[data.draw(st.integers(0, len(live) - 1))]
        # the same (pattern, value) pair may be stored twice: remove() drops its first occurrence
        live.remove(next(e for e in live if e[0] == victim[0] and e[1] is victim[1]))
        assert index.remove(*victim)
    for topic in queries + queries:  # the second pass reads the cache
        expected: list[SimpleNamespace] = []
        for compiled, value in live:
            if compiled.matches(topic) and all(v is not value for v in expected):
                expected.append(value)
        got = index.match(topic)
        assert [id(v) for v in got] == [id(v) for v in expected]


@given(patterns, patterns, st.lists(topics, max_size=30))
def test_overlap_agrees_with_examples(p: str, q: str, sample: list[str]) -> None:
    from zbus.model.topics import patterns_overlap

    a, b = TopicPattern(p), TopicPattern(q)
    # any topic matching both proves overlap; overlap claims are checked against a witness search
    if any(a.matches(t) and b.matches(t) for t in sample):
        assert patterns_overlap(a, b)
    assert patterns_overlap(a, b) == patterns_overlap(b, a)


def test_overlap_cases() -> None:
    from zbus.model.topics import RegexPattern, patterns_overlap

    def ov(x: str, y: str) -> bool:
        return patterns_overlap(TopicPattern(x), TopicPattern(y))

    assert ov("orders.*", "*.created") and ov("a.**", "a") and ov("**", "x.y.z") and ov("a.*.c", "a.b.**")
    assert not ov("orders.*", "payments.*") and not ov("a.*", "a") and not ov("a.b", "a.c")
    assert not ov("**", "$zbus.hb")
    assert patterns_overlap(RegexPattern(r"order\..*"), TopicPattern("order.new"))
    assert not patterns_overlap(RegexPattern(r"order\..*"), TopicPattern("order.*"))


def test_overlap_equals_exhaustive_search() -> None:
    """Every pair of patterns of up to 3 tokens from {a, b, *, **}, against every topic of up to 6
    tokens from {a, b, c} (enough for a witness whenever one exists)."""
    import itertools

    from zbus.model.topics import patterns_overlap

    tokens = ["a", "b", "*", "**"]
    pats = [TopicPattern(".".join(t)) for n in (1, 2, 3) for t in itertools.product(tokens, repeat=n)]
    topics = [".".join(t) for n in range(1, 7) for t in itertools.product("abc", repeat=n)]
    matched = {p.pattern: {t for t in topics if p.matches(t)} for p in pats}
    for p in pats:
        for q in pats:
            assert patterns_overlap(p, q) == bool(matched[p.pattern] & matched[q.pattern]), (p, q)


# -- regexes stay local: regex_cover and parse_announced -----------------------------------------


@pytest.mark.parametrize(
    ("regex", "cover"),
    [
        (r"orders\.(created|paid)", "orders.**"),
        (r"orders\.created", "orders.created"),  # no metacharacter: the regex is one topic
        (r"orders", "orders"),
        (r"orders\..*", "orders.**"),
        (r"^eu\.orders\.x.*", "eu.orders.**"),  # 'x' may be the start of a longer token
        (r"orders\.x?", "orders.**"),  # an optional character is not part of the literal
        (r"orders\.\w+", "orders.**"),
        (r"a|b", "**"),  # a top-level alternation: no common prefix
        (r"a\|b\.c", "**"),  # an escaped '|' ends the literal run (conservatively)
        (r"[|]abc", "**"),
        (r"(?i)orders\.x", "**"),  # flags change what the letters match
        (r"order.created", "**"),  # an unescaped '.' is any character
        (r"(.*.*.*)*X", "**"),
        ("x" * 300, "**"),  # longer than a topic may be
    ],
)
def test_a_regex_is_announced_as_the_topic_pattern_covering_it(regex: str, cover: str) -> None:
    assert regex_cover(regex) == cover
    assert RegexPattern(regex).cover == cover


@given(
    st.lists(
        st.sampled_from(["a", "b", "x", r"\.", ".", "*", "+", "?", "(", ")", "|", "[ab]", "$"]), max_size=8
    )
)
def test_the_cover_matches_every_topic_the_regex_matches(parts: list[str]) -> None:
    import itertools
    import re

    regex = "".join(parts)
    try:
        compiled = re.compile(regex)
    except re.error:
        return
    cover = compile_pattern(regex_cover(regex))
    topics = [".".join(t) for n in range(1, 4) for t in itertools.product(["a", "b", "x", "ab"], repeat=n)]
    for topic in topics:
        if compiled.fullmatch(topic):
            assert cover.matches(topic), (regex, cover.pattern, topic)


def test_announced_regexes_are_refused() -> None:
    assert parse_announced("orders.*") == TopicPattern("orders.*")
    with pytest.raises(InvalidTopicError, match="is a regex; peers' regexes are not evaluated"):
        parse_announced("re:(.*.*.*)*X")
