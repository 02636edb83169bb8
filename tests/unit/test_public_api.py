"""The public surface is declared once and pinned here (changing it is a deliberate act)."""

from __future__ import annotations

import zbus

EXPECTED = sorted(
    [
        "BlockingNode",
        "BlockingSubscription",
        "ClosedError",
        "Config",
        "ConfigError",
        "DeadLetter",
        "DiscoveryError",
        "Event",
        "EventValidationError",
        "GroupMemberStatistics",
        "GroupStatistics",
        "InvalidFilterError",
        "InvalidTopicError",
        "JournalCorruptError",
        "JournalError",
        "JournalFullError",
        "LocalProtocolError",
        "LostEvents",
        "LoopBlockedError",
        "NoResponders",
        "Node",
        "NodeState",
        "NodeStatistics",
        "Overflow",
        "PeerError",
        "PeerEvent",
        "PeerInfo",
        "PeerLostError",
        "Priority",
        "ProtocolError",
        "RemoteError",
        "RemoteProtocolError",
        "RequestError",
        "RequestTimeout",
        "Subscription",
        "SubscriptionStatistics",
        "UnknownTargetError",
        "UsageError",
        "WaitTimeout",
        "WireError",
        "WouldBlockError",
        "ZbusError",
        "__version__",
        "load_config",
    ]
)


def test_all_is_pinned_and_sorted() -> None:
    assert zbus.__all__ == EXPECTED


def test_public_classes_say_zbus() -> None:
    for name in zbus.__all__:
        obj = getattr(zbus, name)
        if isinstance(obj, type):
            assert obj.__module__ == "zbus", name


def test_every_error_is_a_zbus_error() -> None:
    errors = [getattr(zbus, n) for n in zbus.__all__ if n.endswith(("Error", "Timeout", "Responders"))]
    assert errors and all(issubclass(e, zbus.ZbusError) for e in errors)
    assert issubclass(zbus.RequestTimeout, TimeoutError)
    assert issubclass(zbus.WaitTimeout, TimeoutError) and not issubclass(zbus.WaitTimeout, zbus.RequestError)


def test_public_names_have_docstrings() -> None:
    for name in zbus.__all__:
        obj = getattr(zbus, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
            for attr, member in vars(obj).items() if isinstance(obj, type) else ():
                if not attr.startswith("_") and callable(member):
                    assert (member.__doc__ or "").strip(), f"{name}.{attr} has no docstring"
