"""Security: node keys, mesh credentials and revocation lists, and the trust decisions made from them.

Owns the node's CURVE key pair on disk (``keys``), the mesh authority's Ed25519 signatures over
credentials and revocation lists (``credentials``, via PyNaCl), and ``Trust``: who may connect, which
name a key speaks for and what it may publish, subscribe to and answer (``trust``). No sockets: the
ZeroMQ side (ZAP handler, CURVE options, per-message checks) lives in ``transport/zmq/curve.py``.
May import: errors, config, model, protocol.
"""
