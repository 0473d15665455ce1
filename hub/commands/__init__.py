"""Orders to devices: built, published, confirmed by reported state, re-delivered and swept.

May import hub's top-level modules, hub.registry and devices/.
"""
