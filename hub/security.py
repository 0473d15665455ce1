"""Signed tokens (PyJWT): short-lived access tokens, refresh tokens and phone sessions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

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


class TokenError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    type: TokenType
    session_id: str | None
    expires_at: datetime


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


class TokenIssuer:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def issue(self, user_id: int, kind: TokenType, ttl: timedelta, session_id: str | None = None) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "typ": kind.value,
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": now,
            "exp": now + ttl,
        }
        if session_id is not None:
            claims["sid"] = session_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, *accepted: TokenType) -> Claims:
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
        if kind not in accepted:
            raise TokenError(f"a {kind.value} token cannot be used here")
        sid = raw.get("sid")
        return Claims(
            user_id, kind, sid if isinstance(sid, str) else None, datetime.fromtimestamp(raw["exp"], UTC)
        )
