"""Run a command with a private /etc/hosts: ``python with_hosts.py HOSTS_FILE COMMAND [ARG ...]``.

For lab tests (root): the command runs in a new mount namespace with private propagation, where
HOSTS_FILE is bind-mounted over /etc/hosts, so names resolve as that file says there and nowhere else
(the machine's own /etc/hosts is untouched). The command is exec'd, so it keeps this process's PID.
Rewriting HOSTS_FILE in place (same inode) changes what the command resolves from then on.
"""

from __future__ import annotations

import os
import sys

if len(sys.argv) < 3:
    sys.exit("usage: with_hosts.py HOSTS_FILE COMMAND [ARG ...]")
hosts, *command = sys.argv[1:]
script = 'mount --bind "$0" /etc/hosts && exec "$@"'
os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, hosts, *command])
