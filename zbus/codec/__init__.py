"""The codec: bytes on the wire <-> model values. Pure functions; decoders raise only ``WireError``.

Owns the event frames and batches (wire.py) and the control messages of the ROUTER/DEALER links and
the heartbeat topic, with the one message-kind vocabulary ``Kind`` (control.py). docs/PROTOCOL.md is
the specification these implement.

May import: ``zbus.model``, ``zbus.errors`` and msgpack.
"""
