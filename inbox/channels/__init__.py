"""Channels: one package per kind (adapter, parsing, composing), the registry of kinds and the hub."""
