"""The ZeroMQ transport: one node's sockets and the I/O loop around them.

Data flow: ``sockets.SocketFactory`` makes every socket; ``mesh.MeshTransport`` binds the XPUB and the
ROUTER, runs the join handshake and the ticker; per peer a ``links.Link`` holds a DEALER, a SUB and
its monitor; every receiving socket is drained by a ``pump.Pump``; published events leave through
``outbox.Outbox`` (adaptive batching); ``forwarding.Forwarding`` carries out forwarder mode;
``capture.read_capture`` reads a forwarder's capture socket for ``zbus monitor --capture``.

May import what ``zbus.transport`` may, plus zmq.
"""
