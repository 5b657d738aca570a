"""Neutral building blocks that every layer may use: it imports no other project package.

- :mod:`commons.clock`: the city's time zone.
- :mod:`commons.egn`: the Bulgarian personal number (ЕГН).
- :mod:`commons.prepared`: SQL statements compiled once, run on pooled DBAPI connections.
"""
