"""An invite as a link residents tap and a QR code of it, drawn by the hub (no service online)."""

from __future__ import annotations

import io
from urllib.parse import quote

import segno

# The phone page reads this query parameter and opens the sign-up form with the code filled in.
INVITE_PARAM = "invite"


def invite_link(base_url: str, code: str) -> str:
    """The address a resident opens: the hub's public address, the code in the query."""
    return f"{base_url.rstrip('/')}/?{INVITE_PARAM}={quote(code, safe='')}"


def qr_svg(text: str) -> str:
    """A QR code of ``text`` as an SVG document, black on white, with a quiet zone.

    Error level M (15 %) survives a screen's glare or a creased printout; the size is left to
    the page (viewBox), so the same markup fits a phone sheet and a printed notice.
    """
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=1,
        border=4,
        xmldecl=False,
        svgns=True,
        omitsize=True,
        dark="#000",
        light="#fff",
    )
    return out.getvalue().decode("utf-8")
