"""Relay GPU handlers."""
