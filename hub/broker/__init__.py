"""The project's Mosquitto: its process, its accounts and ACLs (dynamic security), keeping it up.

May import hub.settings only.
"""
