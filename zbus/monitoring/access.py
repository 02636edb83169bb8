"""HttpAccess: who may read which HTTP endpoint of a node: its token, the open endpoints, the loopback rule.

``/api/state``, ``/api/mesh`` and the dashboard ``/`` show a node's peers, topics and traffic, so they
need the node's token: ``?token=...`` in the URL (what a browser opens; the dashboard's own fetches send
it on) or ``Authorization: Bearer ...``. ``/health`` and ``/metrics`` are open while named in
``monitoring.http.open`` (both by default: probes and scrapers rarely carry secrets) and need the token
otherwise. The token is ``monitoring.http.token``, or the first line of ``monitoring.http.token_file``
(0600, like a key), or, when neither is set, one generated at start (logged once with the dashboard URL;
``Node.dashboard_url``). A node refuses to serve beyond loopback with a generated token: someone
elsewhere could not read the log, so only a configured one makes sense there. Tokens are compared in
constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from ..config import HttpConfig
from ..errors import ConfigError

__all__ = ["PROTECTED", "HttpAccess", "is_loopback"]

#: endpoints that need the token whatever ``monitoring.http.open`` says
PROTECTED = frozenset({"/", "/api/state", "/api/mesh"})
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{16,256}")
_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name, "" or "*": may resolve to anything
        return False


def _read_token_file(path: Path) -> str:
    try:
        st = path.stat()
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"monitoring.http.token_file {path} cannot be read: {exc.strerror or exc}; "
            f"write a token into it (e.g. {_MAKE_ONE} > {path}; chmod 600 {path})"
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"monitoring.http.token_file {path} is readable by others "
            f"(mode {stat.S_IMODE(st.st_mode):o}): chmod 600 {path}"
        )
    token = text.splitlines()[0].strip() if text else ""
    if not _TOKEN.fullmatch(token):
        raise ConfigError(
            f"monitoring.http.token_file {path} must hold one token of 16-256 characters of "
            f"A-Za-z0-9_.~- (e.g. {_MAKE_ONE} > {path})"
        )
    return token


@dataclass(frozen=True, slots=True)
class HttpAccess:
    """The token and open endpoints of one node's HTTP server (make it with :meth:`from_config`).

    Attributes:
        token: the secret every protected request must carry.
        generated: the token was made at start (so it is logged once), not configured.
        open: endpoint paths served without the token (``/health``, ``/metrics`` or neither).
    """

    token: str
    generated: bool
    open: frozenset[str]

    @classmethod
    def from_config(cls, http: HttpConfig) -> HttpAccess:
        """The access rules of ``http``.

        Raises:
            ConfigError: both ``token`` and ``token_file`` are set; the token file is missing, loose or
                malformed; or ``host`` is beyond loopback and no token is configured.
        """
        if http.token and http.token_file:
            raise ConfigError("set monitoring.http.token or monitoring.http.token_file, not both")
        token = http.token
        if http.token_file:
            token = _read_token_file(Path(http.token_file).expanduser())
        if not token and not is_loopback(http.host):
            raise ConfigError(
                f"monitoring.http.host = {http.host!r} is reachable beyond this machine, and the "
                "dashboard and /api/* need a token: set monitoring.http.token (16+ characters of "
                f"A-Za-z0-9_.~-, e.g. from {_MAKE_ONE}) or monitoring.http.token_file, "
                'or keep monitoring.http.host = "127.0.0.1"'
            )
        generated = not token
        return cls(
            token=token or secrets.token_urlsafe(24),
            generated=generated,
            open=frozenset("/" + name for name in http.open),
        )

    def allows(self, path: str, query: str, authorization: str | None) -> bool:
        """Whether a request for ``path`` with URL query ``query`` and ``Authorization`` header may be
        answered (unknown paths are allowed: they get a 404 that reveals nothing)."""
        if path in self.open or (path not in PROTECTED and path not in ("/health", "/metrics")):
            return True
        return self.carries_token(query, authorization)

    def carries_token(self, query: str, authorization: str | None) -> bool:
        """Whether the request carries this node's token (``?token=`` or ``Authorization: Bearer``)."""
        try:
            offered: list[str] = parse_qs(query, max_num_fields=8).get("token", [])
        except ValueError:  # too many fields: not a request of ours
            offered = []
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                offered.append(value.strip())
        expected = self.token.encode()
        return any(hmac.compare_digest(candidate.encode(), expected) for candidate in offered[:2])
