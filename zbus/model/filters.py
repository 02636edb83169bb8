"""Mongo-style subscription filters, compiled once into a predicate over events.

A filter maps dotted paths to conditions::

    {"payload.amount": {"$gte": 100}, "source": {"$in": ["billing", "shop"]}, "tags": "vip"}

The first token of a path is an event attribute (``type``, ``source``, ``payload``, ...); later
tokens index dicts by key and lists by position (``payload.items.0.sku``). A bare value means
``$eq``; several operators on one path must all hold. Operators: ``$eq $ne $gt $gte $lt $lte
$in $nin $exists $regex`` per path, and ``$and $or`` (lists of filters) and ``$not`` around them.

Arrays work as in MongoDB: when the value is a list and the operand is not, ``$eq``, ``$in``,
``$regex`` and comparisons hold if any element matches; ``$ne`` and ``$nin`` hold if none does.

Evaluation never raises: a missing path, a lookup error or an incomparable type (``"a" > 5``) is a
non-match. A missing path fails every operator except ``$exists: false``; ``$not`` inverts that, so
``{"$not": {"$eq": 5}}`` matches events without the path while ``{"$ne": 5}`` does not.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidFilterError

__all__ = ["EVENT_FIELDS", "compile_filter"]

EVENT_FIELDS: frozenset[str] = frozenset(
    {
        "id", "type", "topic", "source", "target", "timestamp", "correlation_id", "causation_id",
        "priority", "ttl", "expires_at", "attempts", "max_attempts", "last_error", "created_by", "tags",
        "headers", "payload",
    }
)  # fmt: skip
"""Event attributes a filter path may start with (the default ``fields`` of ``compile_filter``)."""

# Fields holding datetimes: ISO-8601 strings and UNIX seconds in operands are converted at compile time.
_TIME_FIELDS = frozenset({"timestamp", "expires_at"})
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_FIELD_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$not")
_LOGICAL = ("$and", "$or", "$not")
_SEQ = (list, tuple)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()

Predicate = Callable[[Any], bool]
# A compiled condition on a resolved value, plus its result when the path is missing.
_Test = tuple[Callable[[Any], bool], bool]


def _always_true(event: Any) -> bool:
    return True


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        first, second = preds
        return lambda x: first(x) and second(x)
    frozen = tuple(preds)

    def every(x: Any) -> bool:
        for pred in frozen:  # noqa: SIM110 - a plain loop beats all() over a generator
            if not pred(x):
                return False
        return True

    return every


def _negate(pred: Predicate) -> Predicate:
    return lambda x: not pred(x)


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    frozen = tuple(preds)

    def some(x: Any) -> bool:
        for pred in frozen:  # noqa: SIM110 - a plain loop beats any() over a generator
            if pred(x):
                return True
        return False

    return some


def _getter(path: str, tokens: list[str]) -> Callable[[Any], Any]:
    """Build a function reading ``path`` from an event, returning ``_MISSING`` when absent."""
    read = operator.attrgetter(tokens[0])  # a validated field name (``fields``)

    def root(event: Any) -> Any:
        try:
            return read(event)
        except AttributeError:  # an object without that field (filters also run on other records)
            return _MISSING

    if len(tokens) == 1:
        return root
    steps = tuple((t, int(t) if t.isdigit() else None) for t in tokens[1:])

    def get(event: Any) -> Any:
        value = root(event)
        for key, index in steps:
            if type(value) is dict or isinstance(value, Mapping):  # the exact-type check is the fast path
                found = value.get(key, _MISSING)
                if found is _MISSING and index is not None:
                    found = value.get(index, _MISSING)  # msgpack payloads may use int keys
                value = found
            elif index is not None and isinstance(value, _SEQ) and index < len(value):
                value = value[index]
            else:
                return _MISSING
            if value is _MISSING:
                return _MISSING
        return value

    return get


def _equals(operand: Any) -> Callable[[Any], bool]:
    """``$eq`` with array semantics; a list operand also equals a tuple value with the same items."""
    if isinstance(operand, _SEQ):
        forms = (list(operand), tuple(operand))
        return _any_element(lambda v: v in forms)

    def equals(v: Any) -> bool:
        if v == operand:
            return True
        return isinstance(v, _SEQ) and operand in v  # list 'in' is a C loop of identity-or-==

    return equals


def _any_element(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Lift ``test`` to arrays: true if the value, or any element of a list value, passes."""

    def lifted(v: Any) -> bool:
        if test(v):
            return True
        if isinstance(v, _SEQ):
            for element in v:
                if test(element):
                    return True
        return False

    return lifted


def _comparison(op: Callable[[Any, Any], Any], operand: Any) -> Callable[[Any], bool]:
    """``op(value, operand)``; incomparable types (``"a" > 5``) are a non-match, not an error."""
    lift = not isinstance(operand, _SEQ)  # a list operand compares whole lists

    def compare(v: Any) -> bool:
        try:
            if op(v, operand):
                return True
        except TypeError:
            pass
        if lift and isinstance(v, _SEQ):
            for element in v:
                try:
                    if op(element, operand):
                        return True
                except TypeError:
                    pass
        return False

    return compare


def _membership(members: tuple[Any, ...]) -> Callable[[Any], bool]:
    try:
        table = frozenset(members)
    except TypeError:  # unhashable members (dicts, lists): scan the tuple
        return lambda v: v in members

    def contains(v: Any) -> bool:
        try:
            return v in table
        except TypeError:  # an unhashable value cannot equal a hashable member
            return False

    return contains


def _to_datetime(value: Any) -> Any:
    """Convert an operand for a time field; other values pass through (and will not match)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp like '2024-05-01T12:00:00Z'") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # event times are aware UTC; naive operands are taken as UTC
    return value


class _Compiler:
    """Turns one filter spec into closures; holds the spec so every error can quote it."""

    def __init__(self, spec: Mapping[str, Any], fields: frozenset[str]) -> None:
        self.spec = spec
        self.fields = fields

    def error(self, message: str) -> InvalidFilterError:
        return InvalidFilterError(f"filter {dict(self.spec)!r}: {message}")

    def document(self, doc: Any, where: str) -> Predicate:
        if not isinstance(doc, Mapping):
            raise self.error(f"{where} must be a dict of path -> condition, got {doc!r}")
        if not doc:
            return _always_true
        preds: list[Predicate] = []
        for key, condition in doc.items():
            if not isinstance(key, str):
                raise self.error(
                    f"key {key!r} in {where} is not a str; keys are dotted paths like 'payload.id'"
                )
            if key in ("$and", "$or"):
                if not isinstance(condition, _SEQ) or not condition:
                    raise self.error(f"{key} needs a non-empty list of filters, got {condition!r}")
                subs = [self.document(sub, f"{key}[{i}]") for i, sub in enumerate(condition)]
                preds.append(_all(subs) if key == "$and" else _any(subs))
            elif key == "$not":
                preds.append(_negate(self.document(condition, "$not")))
            elif key.startswith("$"):
                raise self.error(
                    f"unknown operator {key!r} in {where}; use a field path or one of {', '.join(_LOGICAL)}"
                )
            else:
                preds.append(self.field(key, condition))
        return _all(preds)

    def field(self, path: str, condition: Any) -> Predicate:
        tokens = path.split(".")
        if "" in tokens:
            raise self.error(f"path {path!r} has an empty token; paths look like 'payload.items.0.sku'")
        if tokens[0] not in self.fields:
            valid = ", ".join(sorted(self.fields))
            raise self.error(f"unknown field {tokens[0]!r} in path {path!r}; paths start with one of {valid}")
        test, if_missing = self.condition(
            path, condition, timed=len(tokens) == 1 and tokens[0] in _TIME_FIELDS
        )
        get = _getter(path, tokens)

        def check(event: Any) -> bool:
            value = get(event)
            if value is _MISSING:
                return if_missing
            return test(value)

        return check

    def condition(self, path: str, condition: Any, *, timed: bool) -> _Test:
        """Compile a bare value (``$eq``) or a dict of operators for the value at ``path``."""
        if isinstance(condition, Mapping) and any(
            isinstance(k, str) and k.startswith("$") for k in condition
        ):
            if not all(isinstance(k, str) and k.startswith("$") for k in condition):
                raise self.error(
                    f"condition at {path!r} mixes operators and plain keys; use either {{'$gt': 1}} "
                    f"or a plain dict to compare whole values"
                )
            tests = [self.operator(path, op, operand, timed=timed) for op, operand in condition.items()]
            if len(tests) == 1:
                return tests[0]
            checks = [t for t, _ in tests]
            return _all(checks), all(missing for _, missing in tests)
        return self.operator(path, "$eq", condition, timed=timed)

    def operand(self, path: str, op: str, value: Any, timed: bool) -> Any:
        if not timed:
            return value
        try:
            if op in ("$in", "$nin"):
                return [_to_datetime(v) for v in value]
            return _to_datetime(value)
        except ValueError as exc:
            raise self.error(f"{op} at {path!r}: {exc}") from None

    def operator(self, path: str, op: str, operand: Any, *, timed: bool) -> _Test:
        if op == "$not":
            test, if_missing = self.condition(path, operand, timed=timed)
            return _negate(test), not if_missing
        if op == "$exists":
            if not isinstance(operand, bool):
                raise self.error(f"$exists at {path!r} takes true or false, got {operand!r}")
            return (lambda v: operand), not operand
        if op in ("$in", "$nin"):
            if not isinstance(operand, _SEQ):
                raise self.error(
                    f"{op} at {path!r} needs a list, got {operand!r}; write {{{op!r}: [{operand!r}]}}"
                )
            members = tuple(self.operand(path, op, operand, timed))
            isin = _any_element(_membership(members))
            return (isin if op == "$in" else _negate(isin)), False
        if op == "$regex":
            if not isinstance(operand, str | re.Pattern):
                raise self.error(f"$regex at {path!r} takes a pattern string, got {operand!r}")
            try:
                search = re.compile(operand).search
            except re.error as exc:
                raise self.error(f"$regex {operand!r} at {path!r} does not compile: {exc}") from None
            return _any_element(lambda v: type(v) is str and search(v) is not None), False
        if op in ("$eq", "$ne"):
            eq = _equals(self.operand(path, op, operand, timed))
            return (eq if op == "$eq" else _negate(eq)), False
        compare = _COMPARISONS.get(op)
        if compare is None:
            if op in ("$and", "$or"):
                raise self.error(f"{op} at {path!r} is only allowed at the top level: {{{op!r}: [filters]}}")
            raise self.error(f"unknown operator {op!r} at {path!r}; use one of {', '.join(_FIELD_OPS)}")
        return _comparison(compare, self.operand(path, op, operand, timed)), False


def compile_filter(spec: Mapping[str, Any] | None, *, fields: frozenset[str] = EVENT_FIELDS) -> Predicate:
    """Compile a Mongo-style filter into a fast predicate over events.

    Args:
        spec: the filter, e.g. ``{"payload.amount": {"$gt": 5}}``. ``None`` or ``{}`` match everything.
        fields: the attribute names a path may start with; default ``EVENT_FIELDS``.

    Returns:
        A function ``predicate(event) -> bool`` that reads the named attributes and never
        raises: missing paths, lookup errors and incomparable types count as a non-match.

    Raises:
        InvalidFilterError: the spec is not a dict, a key is not a str, a path is empty or starts with
            an unknown field, an operator is unknown, ``$in``/``$nin`` lack a list, ``$and``/``$or``
            lack a non-empty list, ``$exists`` is not a bool, or a ``$regex`` or timestamp is invalid.
            The message quotes the filter, names the offending part and lists what is allowed.
    """
    if spec is None:
        return _always_true
    if not isinstance(spec, Mapping):
        raise InvalidFilterError(
            f"filter {spec!r} is a {type(spec).__name__}; pass a dict like {{'payload.amount': {{'$gt': 5}}}}"
        )
    matches = _Compiler(spec, fields).document(spec, "the filter")
    if matches is _always_true:
        return matches

    def predicate(event: Any) -> bool:
        try:
            return matches(event)
        except Exception:  # a property or __eq__ that raises is a non-match, never an error in routing
            return False

    return predicate
