"""Regenerate ``telegram_api_spec.json`` from the telegram-bot-api-spec ``api.min.json``.

Usage: python tests/fakes/make_telegram_spec.py ../shared/telegram-bot-api/api.min.json

The output keeps, per method and type, only what the fake server checks: field names, types,
whether they are required. The few rules that the upstream spec states only in prose (length
limits, "required if X is not specified", subtype discriminators, "exactly one of the fields")
are extracted here once, so the server never parses descriptions at run time.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("telegram_api_spec.json")

_LIMIT = re.compile(r"\b(\d+)-(\d+) (characters|bytes|Bytes|items|identifiers|tasks)\b")
_UNITS = {"characters": "chars", "bytes": "bytes", "Bytes": "bytes"}
_REQUIRED_UNLESS = re.compile(
    r"[Rr]equired if (\w+(?: and \w+)*) (?:is|are) not specified|required if (\w+) isn't specified"
)
_CONST = re.compile(r"(?:must be|always) \"?([a-z_]+)\"?$")
_EXACTLY_ONE_EXCEPT = re.compile(r"Exactly one of the fields other than ([\w, ]+?) must be used")
_EXACTLY_ONE_OF = re.compile(r"Exactly one of the fields (\w+) or (\w+) must be used")


def _field(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": raw["name"],
        "types": raw["types"],
        "required": raw["required"],
    }
    desc: str = raw.get("description", "")
    if m := _LIMIT.search(desc):
        unit = _UNITS.get(m.group(3), "items")
        out["limit"] = [int(m.group(1)), int(m.group(2)), unit]
        if "after entit" in desc:
            out["parsed"] = True
    if m := _REQUIRED_UNLESS.search(desc):
        out["required_unless"] = (m.group(1) or m.group(2)).split(" and ")
    if (
        raw["required"]
        and raw["name"] in ("type", "source", "status")
        and (m := _CONST.search(desc))
    ):
        out["const"] = m.group(1)
    return out


def _one_of(raw: dict[str, Any], fields: list[dict[str, Any]]) -> list[str] | None:
    desc = " ".join(raw.get("description", []))
    optional = [f["name"] for f in fields if not f["required"]]
    if m := _EXACTLY_ONE_EXCEPT.search(desc):
        excluded = {n.strip() for n in re.split(r",|\band\b", m.group(1)) if n.strip()}
        return [n for n in optional if n not in excluded]
    if m := _EXACTLY_ONE_OF.search(desc):
        return [m.group(1), m.group(2)]
    if "exactly one of the optional fields" in desc:
        return optional
    return None


def build(source: dict[str, Any]) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for name, raw in source["methods"].items():
        methods[name] = {
            "returns": raw.get("returns", []),
            "fields": [_field(f) for f in raw.get("fields", [])],
        }
    types: dict[str, Any] = {}
    for name, raw in source["types"].items():
        entry: dict[str, Any] = {}
        if "subtypes" in raw:
            entry["subtypes"] = raw["subtypes"]
        fields = [_field(f) for f in raw.get("fields", [])]
        if fields:
            entry["fields"] = fields
        if one_of := _one_of(raw, fields):
            entry["one_of"] = one_of
        types[name] = entry
    return {"version": source.get("version", ""), "methods": methods, "types": types}


def dump(spec: dict[str, Any]) -> str:
    """One method or type per line: small, and reviewable as a diff."""

    def section(items: dict[str, Any]) -> str:
        lines = [
            f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False, separators=(',', ':'))}"
            for k, v in items.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n  }"

    return (
        "{\n"
        f'  "version": {json.dumps(spec["version"])},\n'
        f'  "methods": {section(spec["methods"])},\n'
        f'  "types": {section(spec["types"])}\n'
        "}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} path/to/api.min.json", file=sys.stderr)
        return 2
    source = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    OUTPUT.write_text(dump(build(source)), encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(source['methods'])} methods, {len(source['types'])} types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
