"""Pieces of the local Stripe server (infra/local/stripe_server.py): wire-format parameters,
the in-memory object store and its resources, webhook signing and delivery, and HTML pages.

Only stripe_server.py is meant to be imported from outside this package.
"""
