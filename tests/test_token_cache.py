"""Remembered token verdicts must decide exactly as a fresh verification would."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from hub.auth import tokens as security
from hub.auth.tokens import TokenError, TokenIssuer, TokenType

SECRET = "a-test-secret-of-a-decent-length-0123456789"


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = TokenIssuer(SECRET)
    token = issuer.issue(7, TokenType.ACCESS, timedelta(minutes=5))
    assert issuer.decode(token, TokenType.ACCESS).user_id == 7
    assert issuer.decode(token, TokenType.ACCESS).user_id == 7  # from memory
    later = time.time() + 301
    monkeypatch.setattr(security.time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        issuer.decode(token, TokenType.ACCESS)


def test_a_remembered_token_keeps_its_type() -> None:
    issuer = TokenIssuer(SECRET)
    token = issuer.issue(7, TokenType.SESSION, timedelta(minutes=5))
    assert issuer.decode(token, TokenType.SESSION).type is TokenType.SESSION
    with pytest.raises(TokenError, match="cannot be used here"):
        issuer.decode(token, TokenType.ACCESS)


def test_another_issuers_token_is_refused_even_after_a_good_one() -> None:
    issuer = TokenIssuer(SECRET)
    good = issuer.issue(7, TokenType.ACCESS, timedelta(minutes=5))
    issuer.decode(good, TokenType.ACCESS)
    forged = TokenIssuer("some-other-secret-of-decent-length-98765").issue(
        7, TokenType.ACCESS, timedelta(minutes=5)
    )
    with pytest.raises(TokenError, match="invalid"):
        issuer.decode(forged, TokenType.ACCESS)
