"""deploy/nginx.conf and deploy/Caddyfile as shipped (TLS swapped for plain HTTP on 127.0.0.1),
each in front of two real workers on PostgreSQL with Telegram's webhook pointed at it: every
update is answered, both workers take a share, one worker stopped does not cost an update, and
/metrics is not published. Each runs where its server is installed (`.ci/run` installs
Debian's nginx-light and caddy)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.channels.test_two_workers import SECRET, TOKEN, Worker, until
from tests.conftest import PG_URL, ROOT
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import free_port

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set"),
    pytest.mark.slow,
]


def nginx_config(tmp_path: Path, port: int, workers: list[Worker]) -> Path:
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    site = re.sub(r"\n\s*ssl_certificate[^\n]*", "", site)
    for shipped, worker in zip(("8080", "8082"), workers, strict=True):
        site = site.replace(f"127.0.0.1:{shipped}", f"127.0.0.1:{worker.port}")
    (tmp_path / "citybot.conf").write_text(site, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"""daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/citybot.conf;
}}
""",
        encoding="utf-8",
    )
    return main


def caddy_config(tmp_path: Path, port: int, workers: list[Worker]) -> Path:
    site = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    site = site.replace(
        "bot.example.gov.ua {",
        "{\n\tadmin off\n\tauto_https off\n}\n\n" + f"http://127.0.0.1:{port} {{",
    )
    for shipped, worker in zip(("8080", "8082"), workers, strict=True):
        site = site.replace(f"127.0.0.1:{shipped}", f"127.0.0.1:{worker.port}")
    path = tmp_path / "Caddyfile"
    path.write_text(site, encoding="utf-8")
    return path


def proxy_argv(proxy: str, config: Path, tmp_path: Path) -> list[str]:
    if proxy == "nginx":
        return ["nginx", "-p", str(tmp_path), "-c", str(config)]
    return ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"]


def handled(worker: Worker) -> int:
    return worker.log.read_text(errors="replace").count("is handled")


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
async def test_the_shipped_proxy_config_spreads_webhooks_over_two_workers(
    proxy: str, backend: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """(``sessions``: the database emptied first, the updates already seen included.)"""
    if backend != "postgresql":
        pytest.skip("several workers need PostgreSQL")
    if shutil.which(proxy) is None:
        pytest.skip(f"{proxy} is not installed")
    async with FakeTelegramServer() as srv, aiohttp.ClientSession() as http:
        workers = [Worker(srv, tmp_path), Worker(srv, tmp_path)]
        port = free_port()
        make = nginx_config if proxy == "nginx" else caddy_config
        config = make(tmp_path, port, workers)
        server: asyncio.subprocess.Process | None = None
        try:
            for w in workers:
                await w.start()

            async def both_up() -> bool:
                return all([await w.health(http) for w in workers])

            await until(both_up, 30, "two workers up")
            log = (tmp_path / f"{proxy}.log").open("wb")
            server = await asyncio.create_subprocess_exec(
                *proxy_argv(proxy, config, tmp_path), stdout=log, stderr=log
            )

            async def proxy_up() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await until(proxy_up, 10, f"{proxy} up")
            hook = {"url": f"http://127.0.0.1:{port}/telegram/webhook", "secret_token": SECRET}
            async with http.post(f"{srv.base_url}/bot{TOKEN}/setWebhook", json=hook) as resp:
                assert resp.status == 200

            async def start(users: range) -> None:
                for user in users:
                    answer = await srv.deliver_webhook(srv.message_update(user, "/start"))
                    assert answer.status == 200, answer
                    [prompt] = srv.sent_messages(user)
                    assert "Choose your language" in str(prompt["text"])

            await start(range(9_100, 9_110))
            assert handled(workers[0]) > 0 and handled(workers[1]) > 0, "round robin"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 404  # Prometheus scrapes the workers, not the public

            await workers[0].stop(signal.SIGTERM)  # a restart: the other takes every call
            await start(range(9_200, 9_210))
        finally:
            if server is not None and server.returncode is None:
                server.send_signal(signal.SIGQUIT if proxy == "nginx" else signal.SIGTERM)
                await asyncio.wait_for(server.wait(), 10)
            for w in workers:
                await w.stop(signal.SIGTERM)
