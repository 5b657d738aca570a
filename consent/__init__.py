"""The consent domain: models, lifecycle, decisions, receipts and the ledger.

Nothing here imports Flask or the web packages: every function takes plain values and a
SQLAlchemy session, so the domain can run from a script, a worker or a test alone.
"""
