"""Bot API calls and webhook answers as JSON bodies instead of forms.

aiogram encodes every call as a form (a webhook answer as multipart/form-data), serialising each
nested object to a JSON string on the way. The Bot API takes ``application/json`` as well, and
one ``json.dumps`` of the whole call is cheaper than building a form field by field: in the
bench's profiles the form and multipart code were ~8 % of the bot's CPU per update. Calls that
upload a file keep aiogram's multipart form.
"""

from __future__ import annotations

from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientError, ClientTimeout, JsonPayload, Payload


def json_body(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The call's parameters as one JSON object, or None when it uploads a file."""
    files: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if not prepared:  # as aiogram's form: unset, empty and false values are left out
            continue
        body[key] = prepared
    return None if files else body


class JsonSession(AiohttpSession):
    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        body = json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)


class JsonAnswerHandler(SimpleRequestHandler):
    """Answers Telegram's webhook POST with the returned method as JSON."""

    def _build_response_writer(
        self, bot: Bot, result: TelegramMethod[TelegramType] | None
    ) -> Payload:
        body = json_body(bot, result) if result else None
        if result is None or body is None:
            return super()._build_response_writer(bot, result)
        return JsonPayload({"method": result.__api_method__, **body}, dumps=bot.session.json_dumps)
