"""citybot in webhook mode with the public page and the Open311 API on its web server, wired
the way the runner is to wire them (bot.web.mount_web on the webhook application): what
`bench/web.py` measures until the runner does it itself."""

from __future__ import annotations

import sys
from typing import Any

import bot.runner as runner
from bot.__main__ import main
from bot.web import mount_web

_webhook_app = runner.webhook_app


def webhook_app(app: Any, *args: Any, **kwargs: Any) -> Any:
    web_app = _webhook_app(app, *args, **kwargs)
    mount_web(web_app, app)
    return web_app


runner.webhook_app = webhook_app

if __name__ == "__main__":
    sys.exit(main(["run"]))
