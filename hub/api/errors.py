"""Every error answer carries a stable ``code`` (and its ``params``) beside the English ``detail``.

The phone app shows errors in the user's language from the code; ``detail`` stays for API
clients and logs. Routes raise ``ApiError(status, code, detail, **params)``; a plain
``HTTPException`` gets the code of its status, and a request the models refuse gets
``invalid_field`` naming the first field and pydantic's error type. The codes and what they
mean are listed in ``CODES`` (and in docs/errors.md); the app has a string for each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.auth.accounts import MIN_PASSWORD_LENGTH, AccountError, PasswordTooShort, UserExists

# The code a plain HTTPException (or a framework error) of each status gets.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}

# Every specific code a route may send, with what it means (the English of docs/errors.md).
CODES: dict[str, str] = {
    "invalid_field": "a field is missing or invalid (params: field, type, pydantic's limits)",
    "number_out_of_range": "a number in the request is beyond what can be stored",
    "body_too_large": "the request body is over the route's limit (params: limit)",
    "database_busy": "the database is busy or unreachable; nothing changed, retry shortly",
    "storage_unwritable": "the hub's disk refused a write (params: reason)",
    "broker_unavailable": "the MQTT broker refused an account change; nothing changed",
    "origin_missing": "a cookie request that changes something came without Origin or Referer",
    "origin_mismatch": "a cookie request came from a page that is not this hub",
    "not_logged_in": "no session and no bearer token",
    "session_ended": "the session was ended, expired or the password changed; log in again",
    "account_disabled": "the account was disabled or removed",
    "role_forbidden": "the caller's role may not do this (params: role, allowed)",
    "area_not_found": "no such area, or not the caller's (params: area)",
    "login_failed": "wrong username or password",
    "login_rate_limited": "too many failed logins (params: wait, seconds)",
    "refresh_invalid": "the refresh token was used, revoked or expired; log in again",
    "user_exists": "the username is taken (params: username)",
    "user_not_found": "no such user in the caller's reach (params: user_id)",
    "area_code_required": "this role's account needs an area (params: role)",
    "head_creates_only": "a head may create only deputy or resident accounts (params: role)",
    "head_changes_only": "a head may change only deputy and resident accounts (params: username, role)",
    "cannot_deactivate_self": "an admin cannot deactivate their own account",
    "password_too_short": "the password is too short (params: min_length)",
    "account_invalid": "the account cannot be created as asked",
    "register_rate_limited": "too many failed sign-ups (params: wait, seconds)",
    "invite_unknown": "no such invite code",
    "invite_revoked": "the invite code was revoked",
    "invite_expired": "the invite code has expired",
    "invite_used_up": "the invite code has been used up",
    "invite_not_found": "no such invite in the area (params: invite_id)",
    "device_exists": "the area already has a device with this id (params: device_id)",
    "device_not_found": "no such device in the area (params: device_id)",
    "device_not_active": "only an active device has a broker account (params: device_id, status)",
    "device_status": "the device cannot change to that status now",
    "zone_not_found": "no such zone in the area (params: zone_id)",
    "zone_exists": "the area already has a zone of that name (params: name)",
    "no_targets": "the command's target has no active device of that kind (params: target, kind)",
    "command_not_found": "no such command in the area (params: command_id)",
    "emergency_active": "emergency mode is already on in the area",
    "emergency_conflict": "emergency mode cannot start or end now",
    "confirmation_failed": "the emergency confirmation token is invalid or expired; ask again",
    "confirmation_mismatch": "the confirmation token belongs to another request; ask again",
    "announcement_not_found": "no such announcement in the area (params: announcement_id)",
    "announcement_invalid": "the announcement cannot be made as asked",
    "announcement_closed": "the announcement already finished (params: status)",
    "programme_not_found": "no such programme in the area (params: programme_id)",
    "text_or_audio": "a programme needs either text or an audio file",
    "audio_not_found": "no such audio file in the area",
    "programme_invalid": "the programme's recurrence is invalid",
    "timetable_not_found": "no such timetable in the area (params: timetable_id)",
    "valid_range": "valid_until is before valid_from",
    "audio_field_missing": "the upload has no multipart field 'file'",
    "file_too_large": "the uploaded file is too large (params: limit, bytes)",
    "audio_invalid": "the uploaded audio is not a usable WAV, MP3 or OGG, nor a recording ffmpeg can read",
    "audio_converter_missing": "recordings cannot be converted: ffmpeg is not installed on the hub",
    "area_exists": "an area with this code already exists",
    "area_invalid": "the area cannot be created or changed as asked",
    "snapshot_not_found": "the camera has sent no snapshot yet (params: device_id)",
    "incident_not_found": "no such incident in the area (params: incident_id)",
    "subscription_invalid": "the push subscription is not one the hub can use",
    "too_many_subscriptions": "the account has the most push subscriptions allowed (params: max)",
    "subscription_not_found": "no such push subscription of the caller",
    "quiet_hours_invalid": "the quiet hours are invalid",
    "notification_not_found": "no such notification in the area (params: notification_id)",
    "already_shared": "residents already received this notification",
    "channel_not_found": "no such notification channel in the area",
    "channel_invalid": "a notification channel's URL is refused (params: label)",
    "idempotency_key_reused": "the Idempotency-Key was used for a different request",
    "idempotency_in_progress": "a request with this Idempotency-Key is still being processed",
}

KNOWN_CODES = frozenset(CODES) | frozenset(STATUS_CODES.values())


class ApiError(HTTPException):
    """An HTTP error with a stable machine code and the values the app's message needs."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        if code not in KNOWN_CODES:
            raise ValueError(f"unknown error code {code!r}: add it to hub.api.errors.CODES")
        super().__init__(status_code, detail, headers=dict(headers) if headers else None)
        self.code = code
        self.params = params


def body(detail: Any, code: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON of an error answer."""
    out: dict[str, Any] = {"detail": detail, "code": code}
    if params:
        out["params"] = jsonable_encoder(dict(params))
    return out


def error_response(
    status_code: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **params: Any
) -> JSONResponse:
    """An error answer for places that answer directly rather than raise."""
    return JSONResponse(body(detail, code, params), status_code=status_code, headers=dict(headers or {}))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)  # no body allowed
    code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error")
    params = getattr(exc, "params", None)
    return JSONResponse(body(exc.detail, code, params), status_code=exc.status_code, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    """The innermost named field of an error's location (list indexes skipped)."""
    names = [str(part) for part in loc[1:] if isinstance(part, str)]
    return names[-1] if names else (str(loc[-1]) if loc else "")


def _limits(ctx: Mapping[str, Any] | None) -> dict[str, Any]:
    # Only plain values: the app fills them into its message ("at least {min_length}").
    return {k: v for k, v in (ctx or {}).items() if isinstance(v, int | float | str) and k != "error"}


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    problems = [
        {"field": _field_of(tuple(e.get("loc", ()))), "type": e.get("type", ""), **_limits(e.get("ctx"))}
        for e in errors
    ]
    first = problems[0] if problems else {"field": "", "type": ""}
    out = body(jsonable_encoder(errors), "invalid_field", first)
    out["errors"] = problems
    return JSONResponse(out, status_code=422)


def install(app: FastAPI) -> None:
    """Answer every HTTPException and every refused request body with a code."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)


def account_refused(exc: AccountError, username: str) -> ApiError:
    """The answer to an account the rules refused: taken name (409) or a weak password (422)."""
    if isinstance(exc, UserExists):
        return ApiError(409, "user_exists", str(exc), username=username)
    if isinstance(exc, PasswordTooShort):
        return ApiError(422, "password_too_short", str(exc), min_length=MIN_PASSWORD_LENGTH)
    return ApiError(422, "account_invalid", str(exc))
