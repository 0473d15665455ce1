"""``Idempotency-Key``: a retried request returns the first answer instead of acting again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.api.errors import ApiError
from hub.models import IdempotencyRecord, User


def fingerprint(method: str, path: str, body: BaseModel) -> str:
    raw = json.dumps([method, path, body.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def once(
    sessions: sessionmaker[Session],
    user: User,
    key: str | None,
    print_: str,
    act: Callable[[], BaseModel],
) -> dict[str, Any]:
    """Run ``act`` once per (user, key); later calls get the stored JSON answer."""
    if key is None:
        return act().model_dump(mode="json")
    try:
        with sessions.begin() as session:
            session.add(IdempotencyRecord(user_id=user.id, key=key, fingerprint=print_))
    except IntegrityError:
        with sessions() as session:
            prior = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key
                )
            )
        if prior is None:  # removed in between; treat as new
            return act().model_dump(mode="json")
        if prior.fingerprint != print_:
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key",
            ) from None
        if prior.response is None:
            raise ApiError(
                status.HTTP_409_CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
            ) from None
        return prior.response
    try:
        answer = act().model_dump(mode="json")
    except Exception:
        with sessions.begin() as session:  # let a corrected retry run
            session.query(IdempotencyRecord).filter_by(user_id=user.id, key=key).delete()
        raise
    with sessions.begin() as session:
        session.query(IdempotencyRecord).filter_by(user_id=user.id, key=key).update(
            {"response": answer, "status_code": 200}
        )
    return answer
