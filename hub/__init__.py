"""The hub: top-level modules are shared by its packages; each package says what it owns and may import."""
