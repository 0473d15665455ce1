"""The audio addresses speakers are sent: signed and expiring, and only where they can reach them.

``GET /api/v1/audio/<file>`` serves a file to a logged-in user of its area (the phone app plays
announcements with its session cookie) or to whoever holds a token for that file: the hub
puts one in each ``play`` it sends (``?t=<token>``), a JWT signed with the hub's secret key,
audience ``khu-audio`` (so it is never taken for a login, nor a login for it), naming the file
and the announcement and expiring when the play can no longer start (docs/protocol.md §6.5).

A speaker that is not on the hub's machine cannot fetch ``http://127.0.0.1:…``: when the hub
tells devices to reach its broker at another address but has no ``KHU_PUBLIC_URL``, every
play would fail on every speaker, so the hub refuses to send them and says why.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from hub.auth.tokens import ALGORITHM, ISSUER, TokenError
from hub.broadcasts.models import AudioAsset
from hub.settings import Settings

log = logging.getLogger(__name__)
AUDIENCE = "khu-audio"
TOKEN_PARAM = "t"
LISTEN_DAYS = 30  # a resident may play an announcement from a text message for a month


def is_local_host(host: str | None) -> bool:
    """True for a name that means "this machine": localhost, a loopback or unspecified address."""
    if not host:
        return True
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


class AudioLinks:
    def __init__(self, settings: Settings, secret: str) -> None:
        self._base = settings.base_url
        self._device_host = settings.device_broker_host
        self._secret = secret
        self.grace = timedelta(seconds=settings.broadcast_play_grace_s)
        self.refusal = self._refusal()
        if self.refusal is not None:
            log.warning("broadcasts will not reach any speaker: %s", self.refusal)

    def _refusal(self) -> str | None:
        """Why no speaker could fetch the hub's audio, or None when they can."""
        host = urlsplit(self._base).hostname
        device_host = self._device_host
        if not is_local_host(host) or (is_local_host(device_host) and device_host not in ("0.0.0.0", "::")):
            return None
        return (
            f"KHU_PUBLIC_URL is not set: audio would be sent as {self._base}, this machine's own "
            f"address, while devices are told to reach the broker at {device_host}; a speaker on "
            "another machine cannot fetch it. Set KHU_PUBLIC_URL to the address speakers reach "
            "the hub at (docs/protocol.md §6.5)"
        )

    def plain(self, asset: AudioAsset) -> str:
        """The file's address for the app and the API: fetched with a login."""
        return f"{self._base}/api/v1/audio/{asset.filename}"

    def for_play(self, asset: AudioAsset, announcement: str, start_at: datetime) -> str:
        """The address put in a ``play``: valid until the play expires and the audio has played."""
        return self._signed(
            asset, announcement, start_at + self.grace + timedelta(milliseconds=asset.duration_ms)
        )

    def for_listeners(self, asset: AudioAsset, announcement: str, now: datetime) -> str:
        """The address in residents' notifications ("Nghe: …" in a text message, opened without
        the app's login): valid for ``LISTEN_DAYS``."""
        return self._signed(asset, announcement, now + timedelta(days=LISTEN_DAYS))

    def _signed(self, asset: AudioAsset, announcement: str, until: datetime) -> str:
        claims: dict[str, Any] = {
            "aud": AUDIENCE,
            "iss": ISSUER,
            "sub": asset.filename,
            "ann": announcement,
            "exp": until,
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return f"{self.plain(asset)}?{TOKEN_PARAM}={quote(token, safe='')}"

    def check(self, filename: str, token: str) -> str:
        """The announcement a token for ``filename`` was issued for; TokenError if it is not valid."""
        try:
            raw = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the audio link has expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid audio link: {exc}") from None
        if raw.get("sub") != filename:
            raise TokenError("the audio link is for another file")
        return str(raw.get("ann", ""))
