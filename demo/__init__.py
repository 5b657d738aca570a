"""The demo: synthetic Sofia citizens, services and data sources, for development and tests.

Nothing here runs in production. The broker (``serdika demo seed``, ``serdika serve`` without a
connectors file) calls in with plain values; the demo imports the domain and the connectors,
never the broker or the wallet.

- :mod:`demo.people`: the demo households and citizens.
- :mod:`demo.seed`: ``serdika demo seed``: purposes, services, an auditor, citizens, sources.
- :mod:`demo.sources`: the demo's connectors, as if configured, and its upstream agency.
- :mod:`demo.civil_registry`, :mod:`demo.local_taxes`, :mod:`demo.meter_readings`,
  :mod:`demo.bankya`, :mod:`demo.social_assistance`: each demo source's data.
- :mod:`demo.upstream`: the Social Assistance Agency's JSON API on loopback.
- :mod:`demo.ledger_load`: ``serdika demo load``: synthetic ledger entries for benchmarks.
"""
