"""What every benchmark shares: /proc readings, percentiles, machine facts, a fresh database,
the bot's configuration for a run, and the bot (or the echo bot) as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
TOKEN = "123456:BENCH-token-for-the-fake-server"
SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- /proc --------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid or 'self'}/stat").read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_status_kb(pid: int | None, key: str) -> int:
    """A ``VmRSS`` / ``VmHWM``-like line of /proc/<pid>/status, in KiB (0 when absent)."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int | None = None) -> float:
    return proc_status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | None = None) -> float:
    return proc_status_kb(pid, "VmHWM") / 1024


@dataclass
class CpuMeter:
    """CPU share of a process over a window: 1.0 is one full core."""

    pid: int | None = None
    _cpu0: float = 0.0
    _t0: float = 0.0

    def start(self) -> None:
        self._cpu0, self._t0 = cpu_seconds(self.pid), time.monotonic()

    def share(self) -> float:
        wall = time.monotonic() - self._t0
        return (cpu_seconds(self.pid) - self._cpu0) / wall if wall > 0 else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


@dataclass
class MachineMeter:
    """Busy cores of the whole machine over a window, to tell how much of it was taken by
    processes other than the bot and the bench (other sessions, CI, a stray build)."""

    _busy0: float = 0.0
    _t0: float = 0.0

    def start(self) -> None:
        self._busy0, self._t0 = machine_busy_seconds(), time.monotonic()

    def cores(self) -> float:
        wall = time.monotonic() - self._t0
        return (machine_busy_seconds() - self._busy0) / wall if wall > 0 else 0.0


# ---- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds, rounded for the table."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2) if seconds else math.nan,
    }


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return (ordered[mid - 1] + ordered[mid]) / 2


def median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Element-wise median of the numeric leaves of repeated runs' results (same shape); other
    values are taken from the first run."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        others = [r.get(key) for r in runs]
        if isinstance(value, bool):
            out[key] = any(bool(o) for o in others)  # e.g. machine_busy in any of the runs
        elif not isinstance(value, int | float | dict):
            out[key] = value
        elif isinstance(value, dict):
            if all(isinstance(o, dict) for o in others):
                out[key] = median_of([o for o in others if isinstance(o, dict)])
            else:
                out[key] = value
        else:
            nums = [float(o) for o in others if isinstance(o, int | float)]
            m = median(nums)
            out[key] = round(m, 4) if isinstance(value, float) or not m.is_integer() else int(m)
    return out


# ---- machine ------------------------------------------------------------------------------------


def git_commit() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = proc_status_meminfo("MemTotal")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": list(os.getloadavg()),
        "git": git_commit(),
    }


def proc_status_meminfo(key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ---- network ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


# ---- configuration ------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """Enough TOML for bot.toml: top-level tables and arrays of tables, nested ones inline."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
    for key, value in tables:
        items = value if isinstance(value, list) else [value]
        header = f"[[{json.dumps(key)}]]" if isinstance(value, list) else f"[{json.dumps(key)}]"
        for item in items:
            lines += ["", header]
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def write_config(
    path: Path, *, mode: str, listen_port: int, overrides: dict[str, Any] | None = None
) -> Path:
    """A copy of the repo's bot.toml with ``[telegram]`` set for this run.

    Webhook mode needs an https ``webhook_url`` (bot/config.py); the bench posts updates
    straight to ``http://127.0.0.1:<listen_port><webhook_path>`` with the secret header, so
    the URL only has to pass validation and be accepted by the fake's setWebhook.
    """
    data = tomllib.loads((ROOT / "bot.toml").read_text(encoding="utf-8"))
    tg = dict(data.get("telegram", {}))
    tg.update(mode=mode, listen_host="127.0.0.1", listen_port=listen_port)
    tg["webhook_path"] = WEBHOOK_PATH
    if mode == "webhook":
        tg["webhook_url"] = "https://127.0.0.1"
    data["telegram"] = tg
    for section, values in (overrides or {}).items():
        data[section] = {**data.get(section, {}), **values}
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


# ---- databases ----------------------------------------------------------------------------------


def sqlite_url_for(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def backend_of(url: str) -> str:
    return "postgresql" if make_url(url).get_backend_name() == "postgresql" else "sqlite"


@contextlib.asynccontextmanager
async def fresh_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """A URL of an empty database: a new SQLite file in ``workdir``, or (``kind`` =
    "postgresql") a new database on the server of ``BENCH_DATABASE_URL``, dropped afterwards."""
    if kind == "sqlite":
        yield sqlite_url_for(workdir / f"citybot-{secrets.token_hex(4)}.sqlite3")
        return
    base = os.environ.get("BENCH_DATABASE_URL", "")
    if not base:
        raise RuntimeError("BENCH_DATABASE_URL is not set")
    from models.storage.engine import normalise_url

    admin_url = make_url(normalise_url(base))
    name = f"citybot_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


# ---- child processes ----------------------------------------------------------------------------


@dataclass
class Child:
    """A bot (or echo bot) in its own process; its output goes to ``log``."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: asyncio.subprocess.Process | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=bot_root(),
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    async def stop(self, grace: float = 10.0) -> None:
        """SIGINT (the bot shuts down cleanly on KeyboardInterrupt), then SIGKILL."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def bot_root() -> Path:
    """Where the bot runs from: the repo, or ``BENCH_BOT_ROOT``, a patched copy of it, to
    measure a proposed fix without touching the production code (``python -m bot`` takes the
    packages from its working directory before the editable install)."""
    return Path(os.environ.get("BENCH_BOT_ROOT") or ROOT)


def bot_env(api_base: str, database_url: str, config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VIBER_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=api_base,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=database_url,
        BOT_CONFIG=str(config),
        LOG_LEVEL=os.environ.get("BENCH_BOT_LOG_LEVEL", "WARNING"),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(bot_root()), str(ROOT)]),
    )
    env.update(extra)
    return env


def citybot_argv() -> list[str]:
    return [sys.executable, "-m", "bot", "run"]


def echo_argv() -> list[str]:
    return [sys.executable, "-m", "bench.echo_bot"]
