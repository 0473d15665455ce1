"""Simulated areas for ``khu up`` and ``khu simulate``: the demo layout and emulated fleets.

May import any part of hub and devices/.
"""
