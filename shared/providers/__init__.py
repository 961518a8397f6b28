"""Adapters to third parties: payments (Stripe, Coinbase, x402), GPU backends (RunPod,
Modal) and mail. Each speaks its provider's API; the engine and sites call them.
"""
