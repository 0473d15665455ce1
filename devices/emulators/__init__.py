"""Emulators of off-the-shelf devices, written from each project's published documentation."""
