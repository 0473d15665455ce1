"""External channels through Apprise URLs (Telegram, e-mail, ntfy...), kept encrypted at rest.

An Apprise URL carries the channel's credentials (a bot token, a mail password), so the hub
stores it encrypted with a key derived from its own secret and shows the head a masked form.
"""

from __future__ import annotations

import base64
import hashlib

import apprise
from cryptography.fernet import Fernet, InvalidToken

from devices.payloads import Priority
from hub.notifications.outcome import SENT, Outcome

_NOTIFY_TYPE = {
    Priority.NORMAL: apprise.NotifyType.INFO,
    Priority.PRIORITY: apprise.NotifyType.WARNING,
    Priority.EMERGENCY: apprise.NotifyType.FAILURE,
}


class ChannelError(ValueError):
    pass


class UrlBox:
    """Encrypts and decrypts channel URLs with a key derived from the hub's secret."""

    def __init__(self, hub_secret: str) -> None:
        digest = hashlib.sha256(b"khu-notification-channels\0" + hub_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, url: str) -> str:
        return self._fernet.encrypt(url.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ChannelError("the channel URL cannot be read: the hub's secret key changed") from None


def check_url(url: str) -> str:
    """Validate an Apprise URL; returns its masked form, ChannelError when Apprise does not know it."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ChannelError(
            "not a URL Apprise can send to (e.g. tgram://bot_token/chat_id, mailtos://user:pass@host, "
            "ntfys://host/topic)"
        )
    privacy_url: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return mask(privacy_url)


def mask(privacy_url: str) -> str:
    """Only the kind of channel and a glimpse of where it goes: the rest may be a secret.

    Apprise's privacy form hides passwords and tokens it knows of, but not, say, an ntfy
    topic (anyone who knows a public topic can read it), so most of the URL goes too.
    """
    scheme, _, rest = privacy_url.partition("://")
    rest = rest.split("?", 1)[0].rstrip("/")
    shown = f"{rest[:6]}…{rest[-3:]}" if len(rest) > 12 else f"{rest[:2]}…"
    return f"{scheme}://{shown}"


def send(url: str, title: str, body: str, priority: Priority, timeout_s: float) -> Outcome:
    """Send through one Apprise URL; a failure is worth retrying (Apprise cannot tell us more)."""
    client = apprise.Apprise()
    if not client.add(url):
        return Outcome(False, "Apprise no longer accepts this URL", retry=False)
    result = client.notify(body=body, title=title, notify_type=_NOTIFY_TYPE[priority], timeout=timeout_s)
    if result:
        return SENT
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    return Outcome(False, ("; ".join(messages) or f"Apprise: {result.status.name}")[:400])
