"""zbus.tools: the ``zbus`` command line (click). Not imported by ``import zbus``."""
