"""``zbus keygen``, ``zbus mesh init|revoke`` and ``zbus enroll``: node keys, the mesh authority, credentials.

The three-command set-up of a secured mesh (docs/SECURITY.md): ``zbus mesh init`` once on the
authority's machine; ``zbus keygen NAME`` on each node's machine; ``zbus enroll NAME --key NAME.key
--publish ... --subscribe ...`` on the authority's machine, whose ``NAME.cred`` goes back beside the
node's key. Secrets are written 0600 and never printed.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from zbus.config import parse_duration
from zbus.errors import ZbusError
from zbus.protocol.permissions import Permissions
from zbus.security.credentials import decode_text, encode_text, issue, sign_revocations, verify_revocations
from zbus.security.keys import generate_keys, load_public, load_signing_key, public_key, save_keys
from zbus.security.keys import save_signing_key as make_authority

from . import output

__all__ = ["enroll", "keygen", "mesh"]

KEY_DIR = click.option(
    "--key-dir",
    default="",
    metavar="DIR",
    help="Key directory (default security.key_dir, else ~/.config/zbus/keys).",
)


@click.command()
@click.argument("name")
@KEY_DIR
@click.option("--force", is_flag=True, help="Replace an existing key (peers then need the new one).")
def keygen(name: str, key_dir: str, force: bool) -> None:
    """Make this node's CURVE key pair: NAME.secret (0600) and NAME.key in the key directory.

    Prints the public key (share it: allow-lists, `zbus enroll --key`).
    """
    folder = key_dir_path(key_dir)
    try:
        keys = generate_keys()
        path = save_keys(folder, name, keys, overwrite=force)
    except ZbusError as exc:
        output.fail(str(exc))
    output.note(f"wrote {path} (secret, 0600) and {path.with_suffix('.key')}")
    click.echo(keys.public_text)


@click.group()
def mesh() -> None:
    """The mesh authority: `init` makes its signing key, `revoke` withdraws node keys."""


@mesh.command("init")
@KEY_DIR
@click.option(
    "--force", is_flag=True, help="Replace an existing authority (every credential must be reissued)."
)
def mesh_init(key_dir: str, force: bool) -> None:
    """Make the mesh authority's signing key (mesh.sign, 0600) and print its verify key (mesh.pub).

    Give nodes only mesh.pub (security.mesh_key); keep mesh.sign on this machine.
    """
    folder = key_dir_path(key_dir)
    try:
        path, _ = make_authority(folder, overwrite=force)
    except ZbusError as exc:
        output.fail(str(exc))
    output.note(f"wrote {folder / 'mesh.sign'} (secret, 0600) and {path}")
    click.echo(path.read_text().strip())


def key_dir_path(value: str) -> Path:
    """The key directory of ``--key-dir`` (the default when empty)."""
    from zbus.security.keys import key_dir

    return key_dir(value)


def _key_arg(value: str) -> bytes:
    """A public key given as Z85 text or as a path to a .key file."""
    if len(value) == 40 and not Path(value).exists():
        return public_key(value, "--key")
    return load_public(Path(value))


@click.command()
@click.argument("name")
@click.option(
    "--key", "key", required=True, metavar="KEY", help="The node's public key: Z85 text or NAME.key."
)
@click.option("--mesh", "mesh_name", default="default", show_default=True, help="The mesh (mesh.name).")
@click.option("--publish", multiple=True, metavar="PATTERN", help="Topics it may publish (and request).")
@click.option("--subscribe", multiple=True, metavar="PATTERN", help="Topics it may receive.")
@click.option("--respond", multiple=True, metavar="PATTERN", help="Request types it may answer.")
@click.option("--expires", default="90d", show_default=True, help="Validity (e.g. 90d, 12h; 0 = never).")
@click.option("--out", "out", default="", metavar="FILE", help="Where to write it (default: DIR/NAME.cred).")
@KEY_DIR
def enroll(
    name: str,
    key: str,
    mesh_name: str,
    publish: tuple[str, ...],
    subscribe: tuple[str, ...],
    respond: tuple[str, ...],
    expires: str,
    out: str,
    key_dir: str,
) -> None:
    """Issue NAME's credential, signed by the mesh authority: its key, name, permissions and expiry.

    \b
    Example:
      zbus enroll worker-1 --key worker-1.key --publish 'result.*' --subscribe 'task.**'
    """
    folder = key_dir_path(key_dir)
    try:
        signing = load_signing_key(folder)
        permissions = Permissions(publish=publish, subscribe=subscribe, respond=respond)
        ttl = parse_duration(expires)
        now = int(time.time())
        data = issue(
            signing,
            mesh=mesh_name,
            name=name,
            key=_key_arg(key),
            permissions=permissions,
            issued=now,
            expires=now + int(ttl) if ttl else 0,
        )
    except ZbusError as exc:
        output.fail(str(exc))
    path = Path(out) if out else folder / f"{name}.cred"
    path.write_text(encode_text(data))
    output.note(f"wrote {path}: copy it beside {name}.secret on the node (security.credential)")


@mesh.command("revoke")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option("--mesh", "mesh_name", default="default", show_default=True, help="The mesh (mesh.name).")
@KEY_DIR
def mesh_revoke(keys: tuple[str, ...], mesh_name: str, key_dir: str) -> None:
    """Add node keys (Z85 or .key files) to the signed revocation list DIR/revoked (serial + 1).

    A node watching that file (security.revocations) applies it within a few seconds and passes it
    on to its peers in its next HELLO/UPDATE; revoked peers are disconnected.
    """
    folder = key_dir_path(key_dir)
    path = folder / "revoked"
    try:
        signing = load_signing_key(folder)
        serial, held = 0, set()
        if path.exists():
            old = verify_revocations(decode_text(path.read_text(), str(path)), signing.verify_key, mesh_name)
            serial, held = old.serial, set(old.keys)
        held |= {_key_arg(k) for k in keys}
        data = sign_revocations(
            signing, mesh=mesh_name, serial=serial + 1, issued=int(time.time()), keys=held
        )
    except ZbusError as exc:
        output.fail(str(exc))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(encode_text(data))
    tmp.replace(path)  # atomic: a watching node never reads half a list
    output.note(f"wrote {path}: serial {serial + 1}, {len(held)} revoked key(s)")
