"""Transports: how a node's frames reach its peers. They move bytes and keep the peer table; they
know nothing of subscriptions, filters or handlers.

Owns the seam (base.py: the ``Transport`` and ``Inbound`` protocols), the in-process transport
(memory.py) and the ZeroMQ mesh (the ``zmq`` subpackage: mesh, links, pump, outbox, sockets,
forwarding, capture).

May import: ``zbus.model``, ``zbus.codec``, ``zbus.protocol``, ``zbus.observe``, ``zbus.discovery``,
``zbus.config``, ``zbus.errors``, ``zbus.tasks``; zmq only inside ``zmq/``.
"""
