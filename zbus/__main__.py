"""``python -m zbus``: the ``zbus`` command, for when the console script is not on PATH."""

from zbus.tools.cli import main

if __name__ == "__main__":
    main()
