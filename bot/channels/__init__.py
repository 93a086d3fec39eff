"""Channels: each turns its messenger's events into ``Incoming`` and renders ``Reply``."""
