"""The phone web app: the page at /, its worker and manifest at the root, its files under /static/."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from hub.web import Asset, bundle

router = APIRouter(include_in_schema=False, tags=["web"])

# Every file comes from this hub: no CDN, no remote fonts (the deployment has no internet).
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
_PAGE = _COMMON | {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    # The broadcast form records a voice announcement: the page itself may ask for the microphone.
    "Permissions-Policy": "camera=(), microphone=(self), geolocation=()",
}
# Revalidated on every use (a 304 is cheap); the service worker keeps the offline copy.
_REVALIDATE = "no-cache"


def _send(request: Request, asset: Asset | None, headers: dict[str, str]) -> Response:
    if asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    out = headers | {"ETag": asset.etag, "Cache-Control": _REVALIDATE}
    match = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip().removeprefix("W/") for tag in match.split(",")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=out)
    return Response(asset.body, media_type=asset.content_type, headers=out)


@router.get("/")
def index(request: Request) -> Response:
    """The app's single page."""
    return _send(request, bundle().root("index.html"), _PAGE)


@router.get("/sw.js")
def service_worker(request: Request) -> Response:
    """The service worker, at the root so its scope is the whole app."""
    return _send(request, bundle().root("sw.js"), _COMMON | {"Service-Worker-Allowed": "/"})


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> Response:
    """The web app manifest (name, icons, colours) that makes the page installable."""
    return _send(request, bundle().root("manifest.webmanifest"), _COMMON)


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """Scripts, styles and icons of the app."""
    return _send(request, bundle().static(name), _COMMON)
