"""Inbound routing: what a node does with what a transport hands it.

Owns the ``Router`` (router.py: decodes frames, routes broadcast events through repair, directed
events, requests and replies), request correlation (requests.py), gap repair and loss reports as
subscriber and publisher (recovery.py), history-then-live replay gates (replay.py) and peer
change notices with the waits built on them (peerwatch.py).

May import: ``zbus.model``, ``zbus.codec``, ``zbus.protocol``, ``zbus.transport.base``,
``zbus.delivery``, ``zbus.journal``, ``zbus.observe``, ``zbus.config``, ``zbus.errors``, ``zbus.tasks``.
"""
