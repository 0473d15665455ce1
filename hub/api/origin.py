"""Cookie-authenticated requests that change something must come from the hub's own pages.

The phone page's session cookie is SameSite=Strict, which stops most cross-site requests; this
is the second lock (OWASP: verify the origin with standard headers). A POST, PUT, PATCH or
DELETE authenticated by the cookie needs an ``Origin`` header (or, without one, a ``Referer``)
naming the hub itself: the request's own scheme and ``Host``, or ``public_url``. Browsers send
``Origin`` with every such ``fetch``, so the phone app is unaffected. Requests with a bearer
token are not checked: a browser never adds that header by itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


class OriginRefused(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _own_origins(request: Request, public_url: str) -> set[Origin]:
    own = {o for o in (_origin(public_url),) if o is not None}
    host = request.headers.get("host")
    if host:
        mine = _origin(f"{request.url.scheme}://{host}")
        if mine is not None:
            own.add(mine)
    return own


def check_origin(request: Request, public_url: str) -> None:
    """Raise OriginRefused unless an unsafe request names the hub as where it comes from."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("origin")
    header = "Origin"
    if sent is None:
        sent, header = request.headers.get("referer"), "Referer"
    if not sent:
        raise OriginRefused(
            "origin_missing",
            "a request with the session cookie that changes something must carry an Origin or "
            "Referer header (browsers send one); scripts should log in with a bearer token instead",
        )
    if _origin(sent) not in _own_origins(request, public_url):
        raise OriginRefused(
            "origin_mismatch",
            f"{header} {sent[:200]!r} is not this hub: a page elsewhere cannot act with your session; "
            "use the hub's own page (or set KHU_PUBLIC_URL to the address the phone opens)",
        )


def install(app: FastAPI) -> None:
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OriginRefused)
        return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=403)

    app.add_exception_handler(OriginRefused, refused)
