"""The terminal chat: the bot's fallback channel when no messenger is configured."""
