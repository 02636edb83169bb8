"""Observability instruments used on the hot path: cheap, and pure where they can be.

Owns logging set-up and JSON logs (logs.py), W3C trace context (tracing.py), latency histograms
(latency.py), drop counters that warn once per reason (drops.py) and the node statistics values
(statistics.py).

May import: ``zbus.model``, ``zbus.config``, ``zbus.errors``.
"""
