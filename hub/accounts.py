"""User accounts: Argon2 password hashing and creation."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Role, User

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a failed login takes as long either way.
DUMMY_HASH = _hasher.hash("no such user: constant-time placeholder")

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    area_id: int | None = None,
    display_name: str = "",
) -> User:
    """Create a user; admins belong to no area, everyone else to exactly one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if (role is Role.ADMIN) != (area_id is None):
        raise AccountError("an admin has no area; every other role needs one")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        area_id=area_id,
        display_name=display_name or username,
    )
    session.add(user)
    session.flush()
    return user


def has_admin(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.role == Role.ADMIN.value).limit(1)) is not None
