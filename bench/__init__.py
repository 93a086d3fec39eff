"""citybot's benchmark harness (issue 6): ``python -m bench`` / ``make bench``.

Every figure is taken over real HTTP on 127.0.0.1: the bench process hosts the fake Telegram
Bot API server from ``tests/fakes`` and drives the bot, which runs in its own process exactly as
in production (``python -m bot run``). See ``bench/README.md`` for what each benchmark measures
and how to read ``bench/results.json``.
"""
