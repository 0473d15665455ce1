"""The hub's data at rest: migrations, retention, backup and restore, the state dir, disk faults.

May import hub's top-level modules and the models of hub.broadcasts and hub.notifications.
"""
