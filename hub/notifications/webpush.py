"""Web Push (RFC 8030/8291/8292) with the hub's VAPID key, through pywebpush.

The key pair is configured (``KHU_PUSH_VAPID_PRIVATE_KEY``) or generated on first start into
the state dir (0600), so every subscription a browser made stays valid across restarts.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]

from devices.payloads import Priority
from hub.notifications.addresses import private_reason
from hub.notifications.outcome import SENT, Outcome
from hub.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private.pem"
# RFC 8030 urgency: an emergency wakes the phone, the rest may wait for a good moment.
_URGENCY = {Priority.NORMAL: "normal", Priority.PRIORITY: "high", Priority.EMERGENCY: "high"}
# Answers after which the same request will never work: don't retry.
_PERMANENT = frozenset({400, 401, 403, 413})
# The subscription expired or the user revoked it: prune it (RFC 8030 §7.3, and 404 in practice).
_GONE = frozenset({404, 410})


class SubscriptionError(ValueError):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_vapid_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The configured private key (PEM, or the raw 32 bytes base64url), else the one in the state dir."""
    if settings.push_vapid_private_key is not None:
        return _parse_key(settings.push_vapid_private_key.get_secret_value())
    path = settings.state_dir / KEY_FILE
    if not path.exists():
        _generate(path)
    return _parse_key(path.read_text())


def _parse_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        key = ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the VAPID key must be an EC P-256 private key")
    return key


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL: of two hubs starting together on one state dir, one writes and both read it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    log.info("generated the hub's VAPID key pair in %s", path)


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key browsers pass to ``pushManager.subscribe()``."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


@dataclass(frozen=True, slots=True)
class SubscriptionKeys:
    endpoint: str
    p256dh: str
    auth: str


def check_subscription(endpoint: str, p256dh: str, auth: str, allow_private: bool) -> SubscriptionKeys:
    """Validate what a browser sent; SubscriptionError with the reason otherwise."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError("endpoint must be an http(s) URL")
    if not allow_private and private_reason(parts.hostname, resolve=False) is not None:
        # The hub POSTs to this URL: a resident must not make it reach the local network.
        raise SubscriptionError("endpoint must be a public push service")
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        secret = b64url_decode(auth)
    except ValueError:
        raise SubscriptionError("keys.p256dh must be a base64url P-256 public key") from None
    if len(point) != 65:
        raise SubscriptionError("keys.p256dh must be an uncompressed P-256 point (65 bytes)")
    if len(secret) != 16:
        raise SubscriptionError("keys.auth must be 16 bytes, base64url")
    return SubscriptionKeys(endpoint, p256dh, auth)


def origin(endpoint: str) -> str:
    """Scheme and host of an endpoint: what the head may see of it, and the VAPID audience."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class WebPushSender:
    """Encrypts (aes128gcm) and posts one payload to one subscription."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str, ttl_s: int, timeout_s: float) -> None:
        self._vapid = Vapid(key)
        self._subject = subject
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    def send(self, sub: SubscriptionKeys, payload: dict[str, Any], priority: Priority) -> Outcome:
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            webpush(
                info,
                data=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                vapid_private_key=self._vapid,
                # A fresh dict each time: pywebpush fills in aud and exp in place.
                vapid_claims={"sub": self._subject, "aud": origin(sub.endpoint)},
                content_encoding="aes128gcm",
                ttl=self._ttl_s,
                timeout=self._timeout_s,
                headers={"Urgency": _URGENCY[priority]},
            )
        except WebPushException as exc:
            return _failure(exc)
        except requests.RequestException as exc:
            return Outcome(False, f"push service unreachable: {type(exc).__name__}")
        return SENT


def _failure(exc: WebPushException) -> Outcome:
    code: int | None = exc.status_code
    text = f"push service answered {code}" if code is not None else f"push failed: {exc.message}"
    if code in _GONE:
        return Outcome(False, text, retry=False, gone=True)
    if code in _PERMANENT:
        return Outcome(False, text, retry=False)
    return Outcome(False, text, retry_after_s=_retry_after(exc.retry_after))


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
