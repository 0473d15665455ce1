"""``khu user add|list|passwd|disable|enable``: accounts from the hub's machine, audited like the API."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import record
from hub.auth.accounts import AccountError, create_user, end_sessions, reset_password
from hub.db import make_engine, make_sessionmaker
from hub.models import Area, Role, User
from hub.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


class _Refused(Exception):
    """What the operator asked for cannot be done; the message says why and what to do."""


@contextmanager
def _transaction(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _password(given: str | None) -> tuple[str, bool]:
    """The password given, asked for on a terminal, or generated (then it is printed)."""
    password = given or (getpass.getpass("password (empty: generate one): ") if sys.stdin.isatty() else "")
    return (password, False) if password else (secrets.token_urlsafe(12), True)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise _Refused(f"no user {username!r}; 'khu user list' shows the accounts")
    return user


def _run(settings: Settings, work: Callable[[Session], str]) -> int:
    try:
        with _transaction(settings) as session:
            said = work(session)
    except (AccountError, _Refused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(said)
    return 0


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    role = Role(args.role)
    if role is not Role.ADMIN and not args.area:
        print(f"error: a {role} belongs to an area: give --area CODE", file=sys.stderr)
        return 2
    password, generated = _password(args.password)

    def work(session: Session) -> str:
        area_id = None
        if role is not Role.ADMIN:
            area_id = session.scalar(select(Area.id).where(Area.code == args.area))
            if area_id is None:
                raise _Refused(f"no area {args.area!r}; create it first with 'khu create-area'")
        elif args.area:
            raise _Refused("an admin belongs to no area: leave --area out")
        user = create_user(session, args.username, password, role, area_id, args.name or "")
        session.flush()
        record(
            session,
            None,
            area_id,
            "user.create",
            f"user:{user.username}",
            "created",
            {"role": role.value, "area": args.area, "via": "cli"},
        )
        shown = f" with password {password}" if generated else ""
        return f"created {role} {args.username!r}" + (f" in area {args.area!r}" if args.area else "") + shown

    return _run(settings, work)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with _transaction(settings) as session:
        query = select(User, Area.code).outerjoin(Area, Area.id == User.area_id).order_by(User.username)
        if args.area:
            query = query.where(Area.code == args.area)
        if args.role:
            query = query.where(User.role == args.role)
        rows = [
            (u.username, u.role, code or "-", "active" if u.active else "disabled", u.display_name)
            for u, code in session.execute(query)
        ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(_HEADINGS)]
    for line in (_HEADINGS, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0


_HEADINGS = ("username", "role", "area", "status", "name")


def cmd_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password, generated = _password(args.password)

    def work(session: Session) -> str:
        user = _user(session, args.username)
        reset_password(session, user, password)
        _audit_update(session, user, {"password_reset": True})
        shown = f": {password}" if generated else ""
        return f"new password for {args.username!r}{shown}; its sessions are ended"

    return _run(settings, work)


def _audit_update(session: Session, user: User, change: dict[str, object]) -> None:
    """The audit row of a change made here (no user of the hub made it: the actor is empty)."""
    record(
        session,
        None,
        user.area_id,
        "user.update",
        f"user:{user.username}",
        "updated",
        {**change, "via": "cli"},
    )


def _set_active(active: bool) -> Command:
    def command(settings: Settings, args: argparse.Namespace) -> int:
        def work(session: Session) -> str:
            user = _user(session, args.username)
            if user.active != active:
                user.active = active
                if not active:
                    end_sessions(session, user.id)
                _audit_update(session, user, {"active": active})
            return f"{args.username!r} is {'enabled' if active else 'disabled'}"

        return _run(settings, work)

    return command


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``khu user …`` beside the other commands."""
    user = sub.add_parser(
        "user",
        help="add, list, disable accounts or reset a password",
        description="accounts from the hub's machine, audited like the API's changes",
    )
    verbs = user.add_subparsers(dest="verb", required=True)

    add = verbs.add_parser("add", help="create an account (admin, head, deputy or resident)")
    add.set_defaults(func=cmd_add)
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument("--area", help="area code (every role but admin)")
    add.add_argument("--name", help="display name, e.g. 'Nguyễn Văn An'")
    add.add_argument("--password", help="default: asked, or generated and printed")

    listing = verbs.add_parser("list", help="the accounts, with role, area and status")
    listing.set_defaults(func=cmd_list)
    listing.add_argument("--area", help="only this area's")
    listing.add_argument("--role", choices=[r.value for r in Role])

    passwd = verbs.add_parser("passwd", help="set a new password and end the account's sessions")
    passwd.set_defaults(func=cmd_passwd)
    passwd.add_argument("username")
    passwd.add_argument("--password", help="default: asked, or generated and printed")

    for verb, active, help_ in (
        ("disable", False, "stop an account from logging in (ends its sessions)"),
        ("enable", True, "let a disabled account log in again"),
    ):
        p = verbs.add_parser(verb, help=help_)
        p.set_defaults(func=_set_active(active))
        p.add_argument("username")
