"""The journal glue: a node's use of its LMDB journal (``zbus.store``).

Owns opening the journal and write-ahead sending (persistence.py), what a publisher can re-send
(history.py: recent-event ring, then journal), durable checkpoints (checkpoints.py) and dead letters
kept in the journal and announced on ``$zbus.dlq`` (deadletters.py).

May import: ``zbus.model``, ``zbus.codec``, ``zbus.delivery`` (dead-letter values), ``zbus.store``,
``zbus.observe``, ``zbus.config``, ``zbus.errors``, ``zbus.tasks``.
"""
