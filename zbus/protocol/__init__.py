"""Sans-I/O protocol state: pure classes that take inputs (a decoded message, ``now``) and
return what to do. No sockets, no asyncio, no clock: the mesh layer owns those."""
