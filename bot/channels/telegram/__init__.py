"""The Telegram channel (aiogram 3): polling or webhook, residents' dialogs and the staff desk."""
