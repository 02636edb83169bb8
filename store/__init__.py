"""zbus.store: the per-node LMDB journal (events, stream state, checkpoints, dead letters).

Installed as ``zbus.store``. The journal arrives with the persistence work (see
docs/ARCHITECTURE.md, "Journal"); until then nodes keep dead letters in memory and say so.
"""
