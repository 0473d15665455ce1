"""User accounts: Argon2 password hashing and creation."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.models import AuthSession, Role, User

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a failed login takes as long either way.
DUMMY_HASH = _hasher.hash("no such user: constant-time placeholder")

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    pass


class UserExists(AccountError):
    """The username is taken (the API answers 409, not 422)."""


class PasswordTooShort(AccountError):
    """The password is under ``MIN_PASSWORD_LENGTH`` characters."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def end_sessions(session: Session, user_id: int) -> None:
    """Revoke every refresh token and phone session of a user (access tokens run out by themselves)."""
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


def reset_password(session: Session, user: User, password: str) -> None:
    """Set a new password and log the user out everywhere, so an old session cannot outlive it:
    refresh tokens and phone sessions are deleted, and access tokens (which have no row) carry
    the user's token generation, which moves on here."""
    check_password(password)
    user.password_hash = hash_password(password)
    user.token_gen = (user.token_gen or 0) + 1
    end_sessions(session, user.id)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    area_id: int | None = None,
    display_name: str = "",
) -> User:
    """Create a user; admins belong to no area, everyone else to exactly one."""
    check_password(password)
    if (role is Role.ADMIN) != (area_id is None):
        raise AccountError("an admin has no area; every other role needs one")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"user {username!r} already exists")
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
