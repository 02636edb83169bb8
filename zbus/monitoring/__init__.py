"""Monitoring: what operators read over HTTP, served by a thread beside the node.

Owns the consistent snapshot of a node's components (snapshot.py), the ``/health``, ``/metrics`` and
dashboard server (health.py), the Prometheus collector (metrics.py) and the dashboard page
(dashboard.py). It reads components through their ``statistics()`` values and never imports the
``Node``.

May import: ``zbus.model``, ``zbus.observe``, ``zbus.delivery``, ``zbus.config``, ``zbus.errors``,
prometheus_client (metrics.py only).
"""
