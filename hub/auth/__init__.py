"""Who may do what: user accounts, signed tokens, login limits and the cache of callers.

May import hub's top-level modules.
"""
