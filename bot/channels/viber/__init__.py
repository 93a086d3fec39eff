"""The Viber channel: webhooks only, on the bot's web server; sends through Viber's REST API."""
