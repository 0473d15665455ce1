"""Announcements on the loudspeakers: audio, priority queueing, synchronised start, proof, emergency."""
