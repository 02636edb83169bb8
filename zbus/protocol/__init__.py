"""The protocol rules, sans I/O: pure classes that take an input (a decoded message, ``now``) and
return what to do. No sockets, no asyncio, no clock, no journal: the transports and the inbound
router own those and carry out the decisions. Each class is unit-tested without a socket.

Owns stream order and gap repair (repair.py), peer liveness (peers.py), the re-greeting schedule
(greetings.py), responder choice (requests.py), durable watermarks (watermark.py), sticky heartbeat
heads (heads.py), the forwarder choice per publisher (forwarder.py) and a replay pull (pull.py).

May import: ``zbus.model``, ``zbus.errors``.
"""
