"""zbus: a brokerless, peer-to-peer event bus for Python agents and services.

Nodes find each other with mDNS, exchange events over ZeroMQ, encode them with msgpack and can
keep an LMDB journal. Start with ``async with zbus.Node(name="me") as node:``; see README.md.
This module only re-exports the public API.
"""

from __future__ import annotations

import logging as _logging

from ._version import __version__ as __version__
from .blocking import BlockingNode as BlockingNode
from .blocking import BlockingSubscription as BlockingSubscription
from .config import Config as Config
from .config import load_config as load_config
from .delivery.backlog import Overflow as Overflow
from .delivery.deadletters import DeadLetter as DeadLetter
from .delivery.subscription import Subscription as Subscription
from .delivery.subscription import SubscriptionStatistics as SubscriptionStatistics
from .errors import ClosedError as ClosedError
from .errors import ConfigError as ConfigError
from .errors import DiscoveryError as DiscoveryError
from .errors import EventValidationError as EventValidationError
from .errors import InvalidFilterError as InvalidFilterError
from .errors import InvalidTopicError as InvalidTopicError
from .errors import JournalCorruptError as JournalCorruptError
from .errors import JournalError as JournalError
from .errors import JournalFullError as JournalFullError
from .errors import LocalProtocolError as LocalProtocolError
from .errors import LoopBlockedError as LoopBlockedError
from .errors import NoResponders as NoResponders
from .errors import PeerError as PeerError
from .errors import PeerLostError as PeerLostError
from .errors import ProtocolError as ProtocolError
from .errors import RemoteError as RemoteError
from .errors import RemoteProtocolError as RemoteProtocolError
from .errors import RequestError as RequestError
from .errors import RequestTimeout as RequestTimeout
from .errors import UnknownTargetError as UnknownTargetError
from .errors import UsageError as UsageError
from .errors import WaitTimeout as WaitTimeout
from .errors import WireError as WireError
from .errors import WouldBlockError as WouldBlockError
from .errors import ZbusError as ZbusError
from .inbound.peerwatch import PeerEvent as PeerEvent
from .model.event import Event as Event
from .model.event import Priority as Priority
from .model.peer import PeerInfo as PeerInfo
from .node import Node as Node
from .observe.statistics import GroupMemberStatistics as GroupMemberStatistics
from .observe.statistics import GroupStatistics as GroupStatistics
from .observe.statistics import NodeState as NodeState
from .observe.statistics import NodeStatistics as NodeStatistics
from .protocol.repair import LostEvents as LostEvents

__all__ = [
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
    "LoopBlockedError",
    "LostEvents",
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

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "zbus"

_logging.getLogger("zbus").addHandler(_logging.NullHandler())
