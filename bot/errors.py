"""Errors the command line reports to the operator in a sentence, not a traceback."""

from __future__ import annotations


class ConfigError(Exception):
    """bot.toml or the environment is missing or invalid; the message names the key."""
