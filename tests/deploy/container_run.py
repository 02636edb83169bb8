"""Run a command as the zbus image runs it, without Docker: ``python container_run.py OPTIONS -- CMD...``.

Options: ``--hosts FILE`` (bind-mounted over /etc/hosts: the names compose DNS or a pod would
resolve), ``--volume DIR`` (mounted at /var/lib/zbus, the image's VOLUME) and ``--uid N`` (the image's
USER). Inside a new mount namespace with private propagation (nothing leaks to the machine), /var/lib
becomes an empty tmpfs holding only the volume and /var/lib/bin, where ``zbus`` and
``zbus-entrypoint`` (deploy/docker/entrypoint.sh) are linked as the image installs them in
/usr/local/bin; the working directory is /var/lib/zbus (the image's WORKDIR). The command is exec'd
(same PID), as the user, with no capabilities. Run it inside a network namespace (ip netns exec) for
the container's network. Root only.

The image has Python under /usr/local; here it is this test's interpreter, which may live below a
directory other users cannot enter (pyenv in /root). That directory is replaced, in the private
mount namespace only, by a world-traversable tmpfs holding just the interpreter's tree.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"

parser = argparse.ArgumentParser()
parser.add_argument("--hosts", required=True)
parser.add_argument("--volume")
parser.add_argument("--uid", type=int, required=True)
parser.add_argument("command", nargs="+")
args = parser.parse_args()
zbus = Path(sys.executable).with_name("zbus")
steps = [
    f"mount --bind {shlex.quote(args.hosts)} /etc/hosts",
    "mount -t tmpfs -o mode=0755 zbus-image /var/lib",
    "mkdir -p /var/lib/bin /var/lib/zbus /var/lib/.python",
]
real = Path(sys.base_prefix).resolve()
closed = [d for d in reversed(real.parents) if d != Path("/") and not os.stat(d).st_mode & 0o001]
if closed:  # e.g. /root (0700) above /root/.pyenv: open a way to the interpreter alone
    top = closed[0]
    child = top / real.relative_to(top).parts[0]
    steps += [
        f"mount --bind {shlex.quote(str(child))} /var/lib/.python",
        f"mount -t tmpfs -o mode=0755 zbus-python {shlex.quote(str(top))}",
        f"mkdir -p {shlex.quote(str(child))}",
        f"mount --move /var/lib/.python {shlex.quote(str(child))}",
    ]
steps += [
    f"ln -s {shlex.quote(str(ENTRYPOINT))} /var/lib/bin/zbus-entrypoint",
    f"ln -s {shlex.quote(str(zbus))} /var/lib/bin/zbus",
]
if args.volume:
    os.chown(args.volume, args.uid, args.uid)
    steps.append(f"mount --bind {shlex.quote(args.volume)} /var/lib/zbus")
steps += [
    f"chown {args.uid}:{args.uid} /var/lib/zbus",
    "cd /var/lib/zbus",
    f'exec setpriv --reuid={args.uid} --regid={args.uid} --clear-groups --inh-caps=-all "$@"',
]
script = " && ".join(steps)
os.execvp(
    "unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *args.command]
)
