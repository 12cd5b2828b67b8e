"""Pulumi components of the WebSys platform, one concern per module."""
