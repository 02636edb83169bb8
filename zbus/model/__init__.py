"""The model: what an event is and how it is addressed. Pure values and rules, no I/O.

Owns ``Event`` and ``Priority`` (event.py), topic and pattern grammar and the topic index (topics.py),
Mongo-style subscription filters (filters.py) and ``PeerInfo``, what a node knows of another (peer.py).

May import: ``zbus.errors`` and msgpack (an event decodes its payload lazily). Nothing else of zbus.
"""
