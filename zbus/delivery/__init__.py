"""Delivery: from a routed event to the application's handler or iterator.

Owns the subscription registry and fan-out (routing.py), ``Subscription`` with its bounded priority
backlog (subscription.py, backlog.py), the handler runner with retries, TTL and backoff
(dispatch.py), in-memory dead letters (deadletters.py) and ``stream``/``window`` iteration
(consume.py).

May import: ``zbus.model``, ``zbus.codec``, ``zbus.observe``, ``zbus.config``, ``zbus.errors``,
``zbus.tasks``.
"""
