"""Devices as the hub knows them: registration, enrolment, reports into the database, views.

May import hub's top-level modules, hub.broker.process and devices/.
"""
