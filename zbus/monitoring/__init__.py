"""Monitoring: what operators read over HTTP, served by a thread beside the node, and the mesh view.

Owns the consistent snapshot of a node's components (snapshot.py), the ``/health``, ``/metrics``,
``/api/mesh`` and dashboard server (health.py), the Prometheus collector (metrics.py), the dashboard
page (dashboard.py, with its mesh charts in meshpage.py), and the mesh-wide view: each node's stats
summary and what a watcher makes of them (meshview.py), shared on ``$zbus.stats`` (sharing.py). It
reads components through their ``statistics()`` values and never imports the ``Node``.

May import: ``zbus.model``, ``zbus.observe``, ``zbus.delivery``, ``zbus.config``, ``zbus.errors``,
``zbus.tasks`` (sharing.py's loop), prometheus_client (metrics.py only).
"""
