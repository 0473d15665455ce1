"""Signed tokens (PyJWT): short-lived access tokens, refresh tokens and phone sessions."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

from hub.settings import Settings

AUDIENCE = "khu-hub"
ISSUER = "khu-hub"
ALGORITHM = "HS256"


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    SESSION = "session"
    CONFIRM = "confirm"  # a second, deliberate step for a drastic order (emergency mode)
    DEVICE = "device"  # a browser or app that logged in before: it escapes lock-outs (login_limiter)


class TokenError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    type: TokenType
    session_id: str | None
    expires_at: datetime
    generation: int = 0  # the user's token generation when issued (``User.token_gen``)


def load_secret(settings: Settings) -> str:
    """The configured key, or one generated on first start and kept (0600) in the state dir."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.state_dir / "secret.key"
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


# Verified tokens remembered per issuer: a phone sends the same token with every request.
_VERIFIED_MAX = 4096


class TokenIssuer:
    def __init__(self, secret: str) -> None:
        self._secret = secret
        # token -> its claims, once its signature and claims were checked. Verifying (HMAC,
        # base64, JSON, claim checks) was ~8 % of a device read's CPU; a token's verdict
        # cannot change except by expiring, which is checked again on every use.
        self._verified: dict[str, Claims] = {}

    def issue(
        self,
        user_id: int,
        kind: TokenType,
        ttl: timedelta,
        session_id: str | None = None,
        generation: int = 0,
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "typ": kind.value,
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": now,
            "exp": now + ttl,
        }
        if session_id is not None:
            claims["sid"] = session_id
        if generation:
            claims["gen"] = generation
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, *accepted: TokenType) -> Claims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()  # crude but bounded; it refills from live tokens
            self._verified[token] = claims
        elif claims.expires_at.timestamp() <= time.time():  # as PyJWT decides (no leeway)
            self._verified.pop(token, None)
            raise TokenError("token expired; log in again or use the refresh token")
        if claims.type not in accepted:
            raise TokenError(f"a {claims.type.value} token cannot be used here")
        return claims

    def _verify(self, token: str) -> Claims:
        """Signature, audience, issuer, expiry and the claims the hub needs (PyJWT)."""
        try:
            raw = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired; log in again or use the refresh token") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        try:
            kind = TokenType(raw["typ"])
            user_id = int(raw["sub"])
        except (ValueError, TypeError):
            raise TokenError("invalid token claims") from None
        sid = raw.get("sid")
        gen = raw.get("gen", 0)
        return Claims(
            user_id,
            kind,
            sid if isinstance(sid, str) else None,
            datetime.fromtimestamp(raw["exp"], UTC),
            gen if isinstance(gen, int) else -1,
        )
