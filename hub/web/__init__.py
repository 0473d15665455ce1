"""The phone web app (area head and residents): static files shipped in the package, no build step."""

from hub.web.assets import Asset, Bundle, bundle

__all__ = ["Asset", "Bundle", "bundle"]
