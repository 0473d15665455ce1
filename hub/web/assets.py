"""The app's files, read once from the package, each with its content type and ETag."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
# Served at the root rather than under /static/: the service worker's scope is the folder it
# is served from, and the page and its manifest belong at the top.
ROOT_FILES = frozenset({"index.html", "sw.js", "manifest.webmanifest"})
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as it is sent: bytes, content type and a strong ETag."""

    name: str
    body: bytes
    content_type: str
    etag: str


def _asset(name: str, body: bytes) -> Asset:
    kind = CONTENT_TYPES[Path(name).suffix]
    return Asset(name, body, kind, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


class Bundle:
    """Every file of the app; ``version`` changes whenever any file does."""

    def __init__(self, folder: Path = STATIC_DIR) -> None:
        files = {
            p.name: p.read_bytes()
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix in CONTENT_TYPES
        }
        digest = hashlib.sha256()
        for name, body in files.items():
            digest.update(name.encode() + b"\0" + body)
        self.version = digest.hexdigest()[:12]
        shell = ["/", "/manifest.webmanifest"] + [f"/static/{n}" for n in files if n not in ROOT_FILES]
        if "sw.js" in files:
            # The worker names its cache after the version and precaches the shell, so a new
            # release installs a new worker and the phone never mixes old and new files.
            files["sw.js"] = (
                files["sw.js"]
                .replace(b"__VERSION__", self.version.encode())
                .replace(b"__SHELL__", json.dumps(shell).encode())
            )
        self.assets = {name: _asset(name, body) for name, body in files.items()}

    def root(self, name: str) -> Asset | None:
        """The page, the worker or the manifest."""
        return self.assets.get(name) if name in ROOT_FILES else None

    def static(self, name: str) -> Asset | None:
        """A file under /static/ (only names the package ships; never a path)."""
        return None if name in ROOT_FILES else self.assets.get(name)


@lru_cache
def bundle() -> Bundle:
    """The app as shipped in this package, read on first use."""
    return Bundle()
