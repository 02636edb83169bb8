"""Tests for zbus.model.filters: every operator, array and path semantics, errors, and a reference model."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus.errors import InvalidFilterError, UsageError
from zbus.model.filters import EVENT_FIELDS, compile_filter

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_event(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "id": "e1",
        "type": "orders.created",
        "topic": "orders.created",
        "source": "shop",
        "target": None,
        "timestamp": T0,
        "correlation_id": None,
        "priority": 5,
        "expires_at": None,
        "attempts": 0,
        "tags": ("vip", "eu"),
        "headers": MappingProxyType({"region": "eu-west", "x": "1"}),
        "payload": {
            "amount": 120,
            "currency": "EUR",
            "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
            "scores": [3, 7, 11],
            "note": None,
            "flag": True,
            7: "int-key",
        },
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


EVENT = make_event()


def matches(spec: Mapping[str, Any] | None, event: Any = EVENT) -> bool:
    return compile_filter(spec)(event)


# -- basics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, {}])
def test_empty_filter_matches_everything(spec: Mapping[str, Any] | None) -> None:
    assert matches(spec)
    assert matches(spec, object())
    assert {"type", "payload", "headers", "tags", "timestamp", "expires_at"} <= EVENT_FIELDS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "orders.created"}, True),
        ({"type": "orders.paid"}, False),
        ({"type": {"$eq": "orders.created"}}, True),
        ({"type": {"$ne": "orders.created"}}, False),
        ({"type": {"$ne": "orders.paid"}}, True),
        ({"priority": {"$gt": 4}}, True),
        ({"priority": {"$gt": 5}}, False),
        ({"priority": {"$gte": 5}}, True),
        ({"priority": {"$lt": 5}}, False),
        ({"priority": {"$lte": 5}}, True),
        ({"priority": {"$gt": 1, "$lt": 5}}, False),
        ({"priority": {"$gt": 1, "$lt": 6}}, True),
        ({"priority": {"$in": [1, 5]}}, True),
        ({"priority": {"$in": (1, 2)}}, False),
        ({"priority": {"$nin": [1, 5]}}, False),
        ({"priority": {"$nin": [1, 2]}}, True),
        ({"source": {"$regex": "^sh"}}, True),
        ({"source": {"$regex": "^op"}}, False),
        ({"source": {"$regex": re.compile("SHOP", re.I)}}, True),
        ({"priority": {"$regex": "5"}}, False),  # $regex only applies to str values
        ({"target": None}, True),
        ({"target": {"$exists": True}}, True),  # None is a value, as in MongoDB
        ({"payload.nope": {"$exists": True}}, False),
        ({"payload.nope": {"$exists": False}}, True),
        ({"payload.amount": {"$exists": False}}, False),
        ({"type": "orders.created", "source": "shop"}, True),
        ({"type": "orders.created", "source": "bar"}, False),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


def test_bool_and_int_follow_python_equality() -> None:
    assert matches({"payload.flag": 1})
    assert matches({"payload.flag": {"$in": [1]}})
    assert matches({"attempts": False})


# -- paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"payload.amount": 120}, True),
        ({"payload.currency": "EUR"}, True),
        ({"headers.region": "eu-west"}, True),
        ({"headers.missing": "x"}, False),
        ({"payload.items.0.sku": "A1"}, True),
        ({"payload.items.1.qty": {"$gte": 1}}, True),
        ({"payload.items.2.sku": "A1"}, False),  # index out of range
        ({"payload.items.x.sku": "A1"}, False),  # non-integer token on a list
        ({"payload.currency.0": "E"}, False),  # strings are not indexed
        ({"payload.7": "int-key"}, True),  # dict with an int key
        ({"payload.amount.x": 1}, False),  # int has no keys
        ({"payload.note": None}, True),
        ({"payload.note.x": None}, False),
        ({"payload": {"amount": 1}}, False),  # a plain dict compares whole values
    ],
)
def test_nested_paths(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


def test_whole_dict_equality() -> None:
    event = make_event(payload={"a": 1, "b": [1, 2]})
    assert matches({"payload": {"a": 1, "b": [1, 2]}}, event)
    assert matches({"payload": {}}, make_event(payload={}))


def test_missing_attribute_is_no_match() -> None:
    bare = SimpleNamespace(type="x")
    assert not matches({"payload.a": 1}, bare)
    assert not matches({"source": {"$ne": "x"}}, bare)  # $ne needs the path to exist
    assert not matches({"source": {"$nin": ["x"]}}, bare)
    assert matches({"source": {"$not": {"$eq": "x"}}}, bare)  # $not includes missing paths
    assert matches({"source": {"$exists": False}}, bare)


# -- arrays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"tags": "vip"}, True),
        ({"tags": "gold"}, False),
        ({"tags": ["vip", "eu"]}, True),  # a list operand compares the whole array (tuple or list)
        ({"tags": ["eu", "vip"]}, False),
        ({"tags": {"$ne": "vip"}}, False),  # no element may equal
        ({"tags": {"$ne": "gold"}}, True),
        ({"tags": {"$in": ["gold", "eu"]}}, True),
        ({"tags": {"$nin": ["gold", "eu"]}}, False),
        ({"tags": {"$nin": ["gold"]}}, True),
        ({"tags": {"$regex": "^e"}}, True),
        ({"tags": {"$regex": "^g"}}, False),
        ({"payload.scores": {"$gt": 10}}, True),
        ({"payload.scores": {"$gt": 11}}, False),
        ({"payload.scores": {"$lt": 4}}, True),
        ({"payload.scores": {"$gt": 5, "$lt": 6}}, True),  # like MongoDB: each may hold on any element
        ({"payload.scores": {"$gte": [3, 7]}}, True),  # list operand: whole-list comparison
        ({"payload.items": {"sku": "A1", "qty": 2}}, True),
        ({"payload.items": {"$in": [{"sku": "B2", "qty": 1}]}}, True),  # unhashable members
    ],
)
def test_array_semantics(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


# -- logical --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"$and": [{"type": "orders.created"}, {"priority": 5}]}, True),
        ({"$and": [{"type": "orders.created"}, {"priority": 4}]}, False),
        ({"$and": [{"type": "x"}, {"priority": 5}, {"source": "shop"}]}, False),
        ({"$or": [{"type": "x"}, {"priority": 5}]}, True),
        ({"$or": [{"type": "x"}, {"priority": 4}]}, False),
        ({"$or": [{"type": "x"}, {"priority": 4}, {"tags": "eu"}]}, True),
        ({"$not": {"type": "x"}}, True),
        ({"$not": {"type": "orders.created"}}, False),
        ({"$not": {}}, False),
        ({"priority": {"$not": {"$gt": 6}}}, True),
        ({"priority": {"$not": 5}}, False),
        ({"priority": {"$not": {"$not": 5}}}, True),
        ({"payload.currency": {"$not": {"$gt": 5}}}, True),  # incomparable is no match; $not inverts it
        ({"$or": [{"$and": [{"priority": 5}, {"tags": "vip"}]}, {"source": "x"}]}, True),
        ({"$and": [{"priority": 5}], "source": "nope"}, False),
    ],
)
def test_logical_operators(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


# -- evaluation never raises ----------------------------------------------------------------------


class Exploding:
    @property
    def payload(self) -> Any:
        raise RuntimeError("cannot decode")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no equality")

    __hash__ = object.__hash__


@pytest.mark.parametrize(
    "spec",
    [
        {"payload.amount": {"$gt": "a"}},
        {"payload.currency": {"$lt": 5}},
        {"payload.note": {"$gte": 1}},
        {"payload.items": {"$lt": 3}},
        {"timestamp": {"$gt": [1]}},
    ],
)
def test_incomparable_types_are_no_match(spec: dict[str, Any]) -> None:
    assert not matches(spec)


def test_raising_attributes_and_values_are_no_match() -> None:
    assert not matches({"payload.a": 1}, Exploding())
    assert not matches({"payload": {"$exists": True}}, Exploding())
    weird = make_event(source=Exploding())
    assert not matches({"source": "x"}, weird)
    assert not matches({"source": {"$in": ["x"]}}, weird)


# -- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"timestamp": {"$gte": "2024-05-01T12:00:00Z"}}, True),
        ({"timestamp": {"$gt": "2024-05-01T12:00:00+00:00"}}, False),
        ({"timestamp": {"$lt": "2024-05-01T13:00:00+02:00"}}, False),  # that is 11:00 UTC
        ({"timestamp": {"$gt": "2024-05-01T13:00:00+02:00"}}, True),
        ({"timestamp": {"$gt": "2024-01-01"}}, True),  # naive strings are taken as UTC
        ({"timestamp": "2024-05-01T12:00:00Z"}, True),
        ({"timestamp": {"$in": ["2024-05-01T12:00:00Z"]}}, True),
        ({"timestamp": {"$gt": T0 - timedelta(seconds=1)}}, True),
        ({"timestamp": {"$gt": datetime(2024, 5, 1, 11, 0)}}, True),  # naive datetime taken as UTC
        ({"timestamp": {"$lt": T0.timestamp() + 1}}, True),  # UNIX seconds
        ({"expires_at": {"$exists": True}}, True),
        ({"expires_at": {"$gt": "2024-01-01"}}, False),  # None is not comparable
    ],
)
def test_timestamp_comparisons(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


def test_expires_at_strings_are_converted() -> None:
    event = make_event(expires_at=T0 + timedelta(hours=1))
    assert matches({"expires_at": {"$gt": "2024-05-01T12:30:00Z"}}, event)
    assert not matches({"expires_at": {"$gt": "2024-05-01T13:30:00Z"}}, event)


def test_time_conversion_only_on_top_level_time_fields() -> None:
    event = make_event(payload={"when": "2024-05-01"})
    assert matches({"payload.when": "2024-05-01"}, event)


# -- compile-time errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (
            {"payload.amount": {"$gtt": 5}},
            ["filter {'payload.amount'", "'$gtt' at 'payload.amount'", "$eq, $ne"],
        ),
        ({"bogus.x": 1}, ["unknown field 'bogus'", "payload", "timestamp"]),
        ({1: 2}, ["key 1", "not a str"]),
        ({"": 1}, ["empty token"]),
        ({"payload..x": 1}, ["empty token"]),
        ({"payload.x.": 1}, ["empty token"]),
        ({"$and": []}, ["$and needs a non-empty list"]),
        ({"$or": {"type": "x"}}, ["$or needs a non-empty list"]),
        ({"$and": [5]}, ["$and[0] must be a dict"]),
        ({"$or": [{"type": "x"}, {"nope": 1}]}, ["unknown field 'nope'"]),
        ({"$not": 5}, ["$not must be a dict"]),
        ({"$nor": [{"type": "x"}]}, ["unknown operator '$nor'", "$and, $or, $not"]),
        ({"type": {"$in": "abc"}}, ["$in at 'type' needs a list"]),
        ({"type": {"$nin": 5}}, ["$nin at 'type' needs a list"]),
        ({"type": {"$regex": "("}}, ["$regex '('", "does not compile"]),
        ({"type": {"$regex": 5}}, ["$regex at 'type' takes a pattern string"]),
        ({"type": {"$exists": 1}}, ["$exists at 'type' takes true or false"]),
        ({"type": {"$and": [{"type": "x"}]}}, ["only allowed at the top level"]),
        ({"type": {"$gt": 1, "x": 2}}, ["mixes operators and plain keys"]),
        ({"type": {"$not": {"$bad": 1}}}, ["unknown operator '$bad'"]),
        ({"timestamp": {"$gt": "yesterday"}}, ["'yesterday' is not an ISO-8601 timestamp"]),
        ({"timestamp": {"$in": ["2024-01-01", "soon"]}}, ["'soon' is not an ISO-8601"]),
    ],
)
def test_compile_errors(spec: Any, fragments: list[str]) -> None:
    with pytest.raises(InvalidFilterError) as info:
        compile_filter(spec)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("spec", [[("type", "x")], "type=x", 5])
def test_non_mapping_spec(spec: Any) -> None:
    with pytest.raises(InvalidFilterError, match="pass a dict"):
        compile_filter(spec)


def test_custom_fields() -> None:
    with pytest.raises(UsageError):  # InvalidFilterError is a UsageError (and a ValueError)
        compile_filter({"nope": 1})
    predicate = compile_filter({"kind": "a"}, fields=frozenset({"kind"}))
    assert predicate(SimpleNamespace(kind="a"))
    with pytest.raises(InvalidFilterError, match="paths start with one of kind"):
        compile_filter({"type": "a"}, fields=frozenset({"kind"}))


def test_mapping_spec_that_is_not_a_dict() -> None:
    assert matches(MappingProxyType({"priority": 5}))


# -- property test against a straightforward reference evaluator ----------------------------------

MISSING = object()


def ref_op(value: Any, op: str, operand: Any) -> bool:
    """Reference semantics for one operator on a present value."""
    elements = list(value) if isinstance(value, list) else []
    if op == "$eq":
        return value == operand or any(e == operand for e in elements)
    if op == "$ne":
        return not ref_op(value, "$eq", operand)
    if op == "$in":
        return any(ref_op(value, "$eq", m) for m in operand)
    if op == "$nin":
        return not ref_op(value, "$in", operand)
    if op == "$exists":
        return bool(operand)
    compare = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}[op]

    def safe(a: Any) -> bool:
        try:
            return bool(compare(a, operand))
        except TypeError:
            return False

    return safe(value) or any(safe(e) for e in elements)


def ref_eval(payload: dict[str, Any], spec: dict[str, Any]) -> bool:
    for key, condition in spec.items():
        if key == "$or":
            if not any(ref_eval(payload, sub) for sub in condition):
                return False
            continue
        value = payload.get(key.split(".", 1)[1], MISSING)
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, operand in ops.items():
            ok = (op == "$exists" and not operand) if value is MISSING else ref_op(value, op, operand)
            if not ok:
                return False
    return True


scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"]), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=3))
keys = st.sampled_from(["k1", "k2", "k3"])
documents = st.dictionaries(keys, values, max_size=3)
operators = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]), scalars),
    st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, max_size=3)),
    st.tuples(st.just("$exists"), st.booleans()),
)
conditions = st.one_of(scalars, st.lists(operators, min_size=1, max_size=3).map(dict))
field_filters = st.dictionaries(keys.map(lambda k: f"payload.{k}"), conditions, min_size=1, max_size=2)
filters = st.one_of(
    field_filters, st.lists(field_filters, min_size=1, max_size=3).map(lambda subs: {"$or": subs})
)


@given(documents, filters)
def test_filter_equals_reference(payload: dict[str, Any], spec: dict[str, Any]) -> None:
    event = make_event(payload=payload)
    assert compile_filter(spec)(event) == ref_eval(payload, spec)
