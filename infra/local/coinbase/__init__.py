"""Pieces of the local Coinbase Commerce server (infra/local/coinbase_server.py): the wire
format's errors and timestamps, webhook signing and delivery, the in-memory store, the charge
state machine, and the hosted pay page.

Only coinbase_server.py is meant to be imported from outside this package.
"""
