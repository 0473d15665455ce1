"""The HTTP API: one router per resource, schemas, error codes, and what the phone reads.

May import any part of hub; only the CLI (the app) and the runtime (its device-read cache) import it.
"""
