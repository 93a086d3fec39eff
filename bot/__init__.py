"""citybot: channels (Telegram, Viber, terminal), configuration, wiring and delivery."""
