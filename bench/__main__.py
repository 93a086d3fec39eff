"""``python -m bench [all|conversation|fanout|storage|memory|seed] [--quick] [--users N]
[--repeat K] …`` — prints a table and writes bench/results.json (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, machine_info

RESULTS = BENCH_DIR / "results.json"
TARGETS = {
    "ratio_to_echo": 0.5,
    "p99_ms_20_users": 100.0,
    "fanout_ratio": 0.95,
    "interactive_p99_ms": 20.0,
    "stats_ms": 1000.0,
}


def log(message: str) -> None:
    print(message, flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "conversation", "fanout", "storage", "memory", "seed", "surge"],
    )
    p.add_argument("--quick", action="store_true", help="small numbers: a few minutes in all")
    p.add_argument("--users", type=int, help="concurrent residents (default 200)")
    p.add_argument("--rounds", type=int, help="dialogs per resident slot (default 3, quick 1)")
    p.add_argument("--small-users", type=int, default=20, help="the low-load run (default 20)")
    p.add_argument("--repeat", type=int, help="repeated runs, medians reported (default 3)")
    p.add_argument("--modes", default="webhook,polling", help="webhook,polling")
    p.add_argument(
        "--db",
        default="auto",
        choices=["auto", "sqlite", "postgresql"],
        help="auto: SQLite, and PostgreSQL too when BENCH_DATABASE_URL is set",
    )
    p.add_argument("--fanout", type=int, help="notifications (default 10000, quick 600)")
    p.add_argument(
        "--during-fanout",
        action="store_true",
        help="conversation: residents' dialogs while a fan-out of --fanout (3000) runs",
    )
    p.add_argument(
        "--workers",
        default="",
        help="fanout: also with this many bot processes on PostgreSQL, e.g. 2,3",
    )
    p.add_argument(
        "--minutes", type=float, help="surge: the minutes the reports come in (default 10)"
    )
    p.add_argument("--requests", type=int, help="seeded requests (default 1e6, quick 1e5)")
    p.add_argument("--iterations", type=int, help="runs of each interactive query")
    p.add_argument("--drafts", type=int, help="half-finished drafts (default 10000, quick 1000)")
    p.add_argument("--url", help="seed: the database to fill (default: bench/.data cache)")
    p.add_argument("--profile", action="store_true", help="py-spy the bot (bench/profiles/)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results file (merged into)")
    return p.parse_args(argv)


def databases(choice: str) -> list[str]:
    if choice == "auto":
        return ["sqlite", "postgresql"] if os.environ.get("BENCH_DATABASE_URL") else ["sqlite"]
    if choice == "postgresql" and not os.environ.get("BENCH_DATABASE_URL"):
        raise SystemExit("--db postgresql needs BENCH_DATABASE_URL")
    return [choice]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    dbs = databases(args.db)
    what = args.what
    out: dict[str, Any] = {}
    began = time.monotonic()

    if what == "seed":
        from bench.seed import seed_database
        from bench.storage import DATA_DIR, SEED_VERSION

        n = args.requests or (100_000 if quick else 1_000_000)
        if args.url is not None:
            info = await seed_database(args.url, n)
            log(f"seeded {args.url}: {json.dumps(info.as_dict())}")
            return {}
        DATA_DIR.mkdir(exist_ok=True)
        path = DATA_DIR / f"seed-{n}-v{SEED_VERSION}.sqlite3"
        if path.exists():
            raise SystemExit(f"{path} exists (delete it to seed again)")
        # Written aside and renamed when complete: an interrupted seed is never taken by
        # `bench storage` for a whole one.
        partial = path.with_suffix(".partial")
        for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            p.unlink(missing_ok=True)
        info = await seed_database(f"sqlite+aiosqlite:///{partial}", n)
        partial.rename(path)
        log(f"seeded {path}: {json.dumps(info.as_dict())}")
        return {}

    if what == "surge":
        from bench.surge import bench_surge

        minutes = args.minutes or (2.0 if quick else 10.0)
        reports, others = (60, 6) if quick else (300, 30)
        log(f"surge: {reports} reports of one problem and {others} others in {minutes} min")
        out["surge"] = {
            db: await bench_surge(reports=reports, others=others, minutes=minutes, db=db, log=log)
            for db in dbs
        }

    if what == "conversation" and args.during_fanout:
        from bench.during_fanout import bench_during_fanout

        count = args.fanout or (600 if quick else 3000)
        log(f"conversation during a fan-out of {count:,}")
        during: dict[str, Any] = {}
        for db in dbs:
            for per_chat in (1, 3):  # the FAQ's 1 a second per chat, and its "short bursts"
                during[f"{db}_per_chat_{per_chat}"] = await bench_during_fanout(
                    count=count,
                    users=args.users or 20,
                    rounds=args.rounds or 3,
                    db=db,
                    per_chat_per_s=per_chat,
                    log=log,
                )
        out["conversation_during_fanout"] = during
        what = "none"

    if what in ("all", "conversation"):
        from bench.conversation import RunConfig, bench_conversation

        cfg = RunConfig(
            users=args.users or 200,
            rounds=args.rounds or (1 if quick else 3),
            small_users=args.small_users,
            small_rounds=2 if quick else 5,
            warmup=10,
        )
        repeat = args.repeat or (1 if quick else 3)
        log(
            f"conversation: {cfg.users} residents × {cfg.rounds} dialogs, and "
            f"{cfg.small_users} × {cfg.small_rounds}; {repeat} run(s) each; {', '.join(dbs)}"
        )
        out["conversation"] = await bench_conversation(
            modes=tuple(args.modes.split(",")),
            dbs=tuple(dbs),
            cfg=cfg,
            repeat=repeat,
            profile_dir=BENCH_DIR / "profiles" if args.profile else None,
            log=log,
        )

    if what in ("all", "fanout"):
        from bench.fanout import bench_fanout

        count = args.fanout or (600 if quick else 10_000)
        log(f"fan-out: {count:,} notifications at once (≈{count / 25 / 60:.1f} min at 25/s)")
        fan: dict[str, Any] = {}
        for db in dbs:
            r = await bench_fanout(count=count, db=db, log=log)
            log(
                f"  {db}: {r['delivered']:,}/{count:,} delivered, {r['msgs_per_s']} msg/s "
                f"(ratio {r['ratio_to_limit']}), 429s {r['http_429']}"
            )
            if db == "sqlite":
                fan.update(r)
            else:
                fan[db] = r
        for n in [int(w) for w in args.workers.split(",") if w]:
            if "postgresql" not in dbs:
                raise SystemExit("--workers needs PostgreSQL: set BENCH_DATABASE_URL")
            r = await bench_fanout(count=count, db="postgresql", workers=n, log=log)
            log(
                f"  {n} workers: {r['delivered']:,}/{count:,} delivered, {r['msgs_per_s']} msg/s "
                f"(ratio {r['ratio_to_limit']}), 429s {r['http_429']}, missing {r['missing']}, "
                f"doubled {r['doubled']}"
            )
            fan[f"workers_{n}"] = r
        out["fanout"] = fan

    if what in ("all", "storage"):
        from bench.storage import bench_storage

        n = args.requests or (100_000 if quick else 1_000_000)
        log(f"storage: {n:,} requests")
        for db in dbs:
            r = await bench_storage(
                requests=n,
                db=db,
                iterations=args.iterations or (50 if quick else 200),
                stats_iterations=5 if quick else 20,
                export_small=n // 10,
                log=log,
            )
            export = r.pop("export_summary")
            if db == "sqlite":
                out["storage"] = r
                out["export"] = export | {"detail": r.pop("export")}
            else:
                out.setdefault("storage", {})[db] = r
                out.setdefault("export", {})[db] = export

    if what in ("all", "memory"):
        from bench.memory import bench_memory

        drafts = args.drafts or (1_000 if quick else 10_000)
        log(f"memory: {drafts:,} half-finished drafts")
        out["memory"] = await bench_memory(drafts=drafts, concurrency=args.users or 200, log=log)

    out["run"] = {
        "what": what,
        "quick": quick,
        "argv": sys.argv[1:],
        "seconds": round(time.monotonic() - began, 1),
    }
    return out


def fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.3g}{unit}" if abs(value) < 10 else f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    conv = results.get("conversation", {})
    for mode, per_db in conv.items():
        echo = per_db.get("echo", {})
        rows.append(
            (
                f"echo bot {mode}",
                f"{fmt(echo.get('updates_per_s'))} upd/s, p99 {fmt(echo.get('p99_ms'))} ms",
                f"CPU bot {fmt(echo.get('cpu_bot'))} bench {fmt(echo.get('cpu_bench'))} "
                f"other {fmt(echo.get('cpu_other'))}",
                "BUSY" if echo.get("machine_busy") else "",
            )
        )
        for db, r in per_db.items():
            if db == "echo":
                continue
            ratio = r.get("ratio_to_echo")
            p99_20 = r.get("p99_ms_20_users")
            worst = max(
                (v.get("p99_ms", 0) for v in r.get("steps_20_users", {}).values()), default=None
            )
            rows.append(
                (
                    f"citybot {mode}/{db}",
                    f"{fmt(r.get('updates_per_s'))} upd/s, {fmt(r.get('requests_per_s'))} req/s",
                    f"ratio to echo {fmt(ratio)} (target ≥ {TARGETS['ratio_to_echo']})",
                    verdict(ratio is not None and ratio >= TARGETS["ratio_to_echo"]),
                )
            )
            rows.append(
                (
                    "",
                    f"p50/p95/p99 {fmt(r.get('p50_ms'))}/{fmt(r.get('p95_ms'))}/"
                    f"{fmt(r.get('p99_ms'))} ms @ {r.get('users')} users",
                    f"CPU bot {fmt(r.get('cpu_bot'))}, bench {fmt(r.get('cpu_bench'))}, "
                    f"other {fmt(r.get('cpu_other'))}, failures {r.get('failures')}",
                    "BUSY" if r.get("machine_busy") else "",
                )
            )
            rows.append(
                (
                    "",
                    f"p99 @ 1 user {fmt(r.get('p99_ms_1_user'))} ms (service time, no queue)",
                    f"CPU per update {fmt(r.get('cpu_ms_per_update'))} ms "
                    f"(echo {fmt(echo.get('cpu_ms_per_update'))} ms)",
                    "",
                )
            )
            rows.append(
                (
                    "",
                    f"p99 @ {r.get('small_users')} users {fmt(p99_20)} ms, worst step "
                    f"{fmt(worst)} ms",
                    f"target every step < {TARGETS['p99_ms_20_users']:.0f} ms",
                    verdict(worst is not None and worst < TARGETS["p99_ms_20_users"]),
                )
            )
    fan = results.get("fanout")
    if fan:
        ok = (
            fan.get("ratio_to_limit", 0) >= TARGETS["fanout_ratio"]
            and fan.get("http_429") == 0
            and fan.get("delivered") == fan.get("count")
        )
        rows.append(
            (
                "fan-out",
                f"{fmt(fan.get('delivered'))}/{fmt(fan.get('count'))} delivered, "
                f"{fmt(fan.get('msgs_per_s'))} msg/s",
                f"ratio to {fmt(fan.get('limit_per_s', 30))}/s {fmt(fan.get('ratio_to_limit'))}, "
                f"429s {fan.get('http_429')}",
                verdict(ok),
            )
        )
    storage = results.get("storage", {})
    # SQLite's figures at the top level, other databases' under their name.
    by_db = [("", storage)] + [
        (f" [{db}]", v) for db, v in storage.items() if isinstance(v, dict) and "requests" in v
    ]
    for label, figures in by_db:
        for name, r in figures.items():
            if not isinstance(r, dict) or "p99_ms" not in r:
                continue
            rows.append(
                (
                    f"storage {name}{label}",
                    f"p50 {fmt(r['p50_ms'])} ms, p99 {fmt(r['p99_ms'])} ms",
                    f"target p99 < {r['target_ms']:.0f} ms ({figures.get('requests'):,} requests)",
                    verdict(r.get("ok")),
                )
            )
    export = results.get("export", {})
    exports = [("", export)] + [
        (f" [{db}]", v) for db, v in export.items() if isinstance(v, dict) and "rows_all" in v
    ]
    for label, e in exports:
        if "rows_all" not in e:
            continue
        rows.append(
            (
                f"export (CSV){label}",
                f"{fmt(e.get('rows_all'))} rows at {fmt(e.get('rows_per_s'))} rows/s",
                f"peak RSS {fmt(e.get('peak_rss_mb_small'))} MB @ "
                f"{fmt(e.get('rows_small'))} rows → {fmt(e.get('peak_rss_mb'))} MB",
                verdict(e.get("growth_ratio", 99) <= 1.2),
            )
        )
    mem = results.get("memory")
    if mem:
        rows.append(
            (
                "memory",
                f"RSS {fmt(mem.get('rss_mb_idle'))} MB idle → "
                f"{fmt(mem.get('rss_mb_with_drafts'))} MB",
                f"{fmt(mem.get('drafts'))} drafts, {fmt(mem.get('kb_per_draft'))} KB/draft",
                "",
            )
        )
    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _merged(old: Any, new: Any, depth: int) -> Any:
    if depth <= 0 or not isinstance(old, dict) or not isinstance(new, dict):
        return new
    return old | {k: _merged(old.get(k), v, depth - 1) for k, v in new.items()}


def merge(path: Path, fresh: dict[str, Any]) -> dict[str, Any]:
    """Results of a partial run replace only what they measured: a PostgreSQL-only run of the
    conversation replaces ``conversation.<mode>.postgresql`` (and the echo bot's figures of
    that run), and leaves SQLite's."""
    try:
        old: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    stamp = fresh.pop("run")
    merged = old | {k: _merged(old.get(k), v, 2) for k, v in fresh.items()}
    merged["machine"] = machine_info()
    merged.setdefault("runs", {})
    for section in fresh:
        merged["runs"][section] = stamp | {"date": merged["machine"]["date"]}
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    machine = machine_info()
    log(
        f"citybot bench on {machine['cpu']} ({machine['cores']} cores), commit "
        f"{machine['git']['commit'][:10]}{' (dirty)' if machine['git']['dirty'] else ''}"
    )
    fresh = asyncio.run(run(args))
    if not fresh:
        return 0
    merged = merge(args.out, fresh)
    args.out.write_text(json.dumps(merged, indent=1, ensure_ascii=False, default=str) + "\n")
    log("")
    log(table({k: v for k, v in merged.items() if k in fresh}))
    log(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
