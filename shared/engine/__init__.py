"""The engine: money, jobs, dispatch, queue, storage, identity, webhooks, guards and settings.

Every site is built on these modules; nothing here imports a site (sites register hooks).
"""
