"""Benchmarks of the hub against raw MQTT figures measured in the same run.

``python -m bench`` runs them all (``python -m bench latency ingest`` runs a subset), prints a
table and writes ``bench/results.json``. Every benchmark starts its own Mosquitto on a free
port, its own hub (a ``khu serve`` process on a temporary SQLite database) and its own
simulated devices (a separate process), all on loopback.
"""
