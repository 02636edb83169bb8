"""Every error zbus raises, rooted in one class so ``except zbus.ZbusError`` catches them all.

The tree, split by who has to act::

    ZbusError
    ├── UsageError (ValueError)          your call was wrong: fix the argument named in the message
    │   ├── ConfigError                  a config file, env variable or keyword is wrong
    │   ├── InvalidTopicError            a topic or pattern breaks the topic grammar
    │   ├── InvalidFilterError           a subscription filter is malformed
    │   ├── EventValidationError         an event field is out of range or cannot be encoded
    │   └── UnknownTargetError           publish(target=...) names no known node
    ├── ClosedError                      you closed the node (or never opened it)
    ├── WouldBlockError                  a *_nowait call would have had to wait
    ├── LoopBlockedError (TimeoutError)  BlockingNode: the loop thread did not answer in time
    ├── WaitTimeout (TimeoutError)       a wait_for_* or sub.next(timeout=) ran out of time
    ├── ProtocolError
    │   ├── LocalProtocolError           zbus itself broke the protocol (a bug: please report)
    │   └── RemoteProtocolError          a peer sent something invalid
    │       └── WireError                a frame could not be decoded (size, type, msgpack)
    ├── PeerError                        the network or a peer failed; the cause is in __cause__
    │   └── PeerLostError                a peer went away while we needed it
    ├── DiscoveryError                   mDNS / static discovery could not start
    ├── RequestError
    │   ├── RequestTimeout (TimeoutError) no reply within the timeout
    │   ├── NoResponders                  nobody responds to that type right now
    │   └── RemoteError                   the responder raised; .remote_type / .remote_message
    └── JournalError                     the LMDB journal failed
        ├── JournalFullError             the journal map is full: raise persistence.map_size or retention
        └── JournalCorruptError          the journal's data is damaged: restore it or move it aside
"""

from __future__ import annotations

__all__ = [
    "ClosedError",
    "ConfigError",
    "DiscoveryError",
    "EventValidationError",
    "InvalidFilterError",
    "InvalidTopicError",
    "JournalCorruptError",
    "JournalError",
    "JournalFullError",
    "LocalProtocolError",
    "LoopBlockedError",
    "NoResponders",
    "PeerError",
    "PeerLostError",
    "ProtocolError",
    "RemoteError",
    "RemoteProtocolError",
    "RequestError",
    "RequestTimeout",
    "UnknownTargetError",
    "UsageError",
    "WaitTimeout",
    "WireError",
    "WouldBlockError",
    "ZbusError",
]


class ZbusError(Exception):
    """Root of every error zbus raises."""


class UsageError(ZbusError, ValueError):
    """The caller passed something zbus cannot accept; the message names it and the fix."""


class ConfigError(UsageError):
    """A configuration value is unknown, of the wrong type or out of range.

    The message names the source (file, environment variable or keyword), the key and what is expected.
    """


class InvalidTopicError(UsageError):
    """A topic or topic pattern does not follow the grammar (dot-separated non-empty tokens)."""


class InvalidFilterError(UsageError):
    """A subscription filter is malformed; the message names the offending part."""


class EventValidationError(UsageError):
    """An event field is invalid (priority out of 1..10, bad type, payload msgpack cannot encode, ...)."""


class UnknownTargetError(UsageError):
    """``publish(target=...)`` or a directed send named a node that is not in the peer table, or a
    name that two live nodes share (then target one by id)."""


class ClosedError(ZbusError):
    """The node (or subscription) was closed by your code, or was never started."""


class WouldBlockError(ZbusError):
    """A ``*_nowait`` call could not complete without waiting (queue full, high-water mark reached)."""


class LoopBlockedError(ZbusError, TimeoutError):
    """BlockingNode: the event-loop thread did not finish the call in time (a handler may block it)."""


class WaitTimeout(ZbusError, TimeoutError):
    """A wait ran out of time: ``wait_for_peers``/``_responders``/``_subscribers`` or ``sub.next(timeout=)``.

    Not a request: nothing was sent and nobody failed to answer. ``except TimeoutError`` catches it too.
    """


class ProtocolError(ZbusError):
    """Something broke the zbus protocol."""


class LocalProtocolError(ProtocolError):
    """zbus produced an invalid protocol step itself; this is a bug, please report it."""


class RemoteProtocolError(ProtocolError):
    """A peer sent something that violates the protocol; it is counted and dropped."""


class WireError(RemoteProtocolError):
    """Frames could not be decoded: wrong count, too large, bad msgpack, wrong types or version."""


class PeerError(ZbusError):
    """The network or a peer failed; the underlying cause is chained as ``__cause__``."""


class PeerLostError(PeerError):
    """A peer left or expired while an operation depended on it."""


class DiscoveryError(ZbusError):
    """Discovery (mDNS or static peers) could not start or failed while running."""


class RequestError(ZbusError):
    """A request did not get a successful reply."""


class RequestTimeout(RequestError, TimeoutError):
    """No reply arrived within the timeout. Catchable as the builtin ``TimeoutError`` too."""


class NoResponders(RequestError):
    """No node in the mesh responds to this request type right now (raised at once, not after a timeout)."""


class RemoteError(RequestError):
    """The responder's handler raised; the remote exception type and message are kept.

    Attributes:
        remote_type: the class name of the exception raised by the responder, e.g. ``"KeyError"``.
        remote_message: ``str()`` of that exception.
        responder: the name of the node that answered.
    """

    def __init__(self, remote_type: str, remote_message: str, responder: str = "") -> None:
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.responder = responder
        where = f" on node {responder!r}" if responder else ""
        super().__init__(f"responder{where} raised {remote_type}: {remote_message}")

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str, str, str]]:
        return (RemoteError, (self.remote_type, self.remote_message, self.responder))


class JournalError(ZbusError):
    """The LMDB journal failed (cannot open, read or write)."""


class JournalFullError(JournalError):
    """The journal's LMDB map is full; raise ``persistence.map_size`` or shorten retention."""


class JournalCorruptError(JournalError):
    """The journal's data is damaged: its data file is truncated or inconsistent, or a record fails its
    checksum. The message names the file, or the stream and sequence; ``zbus journal verify`` lists every
    damaged record. Restore the directory from a backup, or move it aside to start a fresh journal."""
