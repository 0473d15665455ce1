"""External channels through Apprise URLs (Telegram, e-mail, ntfy...), kept encrypted at rest.

An Apprise URL carries the channel's credentials (a bot token, a mail password), so the hub
stores it encrypted with a key derived from its own secret and shows the head a masked form.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import apprise
from cryptography.fernet import Fernet, InvalidToken

from devices.payloads import Priority
from hub.notifications.addresses import private_reason
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


def _private_destination(plugin: Any) -> str | None:
    """Why the plugin would post to a loopback or private address, or None.

    The host of the URL (``json://host``, ``ntfys://host``, ``gotify://host``) and a mail
    plugin's SMTP server; names are resolved, so a public-looking name that points inside is
    caught too (at the moment of the check).
    """
    for host in (getattr(plugin, "host", None), getattr(plugin, "smtp_host", None)):
        if isinstance(host, str) and (reason := private_reason(host, resolve=True)) is not None:
            return reason
    return None


def check_url(url: str, allow_private: bool) -> str:
    """Validate an Apprise URL; returns its masked form, ChannelError when Apprise does not know it
    or (unless ``allow_private``) it points at a loopback or private address."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ChannelError(
            "not a URL Apprise can send to (e.g. tgram://bot_token/chat_id, mailtos://user:pass@host, "
            "ntfys://host/topic)"
        )
    if not allow_private and (reason := _private_destination(plugin)) is not None:
        raise ChannelError(
            f"the URL points inside ({reason}); use a public service, or set "
            "KHU_NOTIFY_ALLOW_PRIVATE_URLS=true on a hub meant to post to its own network"
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


def send(
    url: str, title: str, body: str, priority: Priority, timeout_s: float, allow_private: bool
) -> Outcome:
    """Send through one Apprise URL; a failure is worth retrying (Apprise cannot tell us more).

    The destination is checked again (unless ``allow_private``): a name may have been pointed at
    a private address since the channel was set up.
    """
    client = apprise.Apprise()
    if not client.add(url):
        return Outcome(False, "Apprise no longer accepts this URL", retry=False)
    if not allow_private and (reason := _private_destination(client[0])) is not None:
        return Outcome(False, f"not sent: the URL now points inside ({reason})", retry=False)
    result = client.notify(body=body, title=title, notify_type=_NOTIFY_TYPE[priority], timeout=timeout_s)
    if result:
        return SENT
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    return Outcome(False, ("; ".join(messages) or f"Apprise: {result.status.name}")[:400])
