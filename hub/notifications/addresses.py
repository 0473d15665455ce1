"""Is a host on the public internet? The hub posts to addresses residents and heads give it
(Web Push endpoints, Apprise channel URLs); none of them may make it reach its own machine or
the area's local network (a server-side request forgery)."""

from __future__ import annotations

import ipaddress
import socket


def private_reason(host: str, resolve: bool) -> str | None:
    """Why ``host`` is not a public address, or None when it is (or cannot be told).

    An IP literal is judged as it is. A name is judged by every address it resolves to when
    ``resolve`` (a name that does not resolve reaches nothing, and passes); without, only
    ``localhost`` names are refused.
    """
    name = host.strip().strip("[]").lower().rstrip(".")
    if not name:
        return None
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return f"{host} is this machine"
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        return None if ip.is_global else f"{ip} is a loopback, private or reserved address"
    if not resolve or name.isdigit():
        return None  # all digits: a token in the host's place (tgram://), not a name to resolve
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        found = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not found.is_global:
            return f"{host} resolves to {found}, a loopback, private or reserved address"
    return None
