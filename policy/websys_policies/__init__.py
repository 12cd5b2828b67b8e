"""Policies of the WebSys pack; importable without starting the pack (its constructor blocks)."""
