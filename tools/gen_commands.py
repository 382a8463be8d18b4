#!/usr/bin/env python3
"""Command table pipeline: a real redis-server's COMMAND / COMMAND DOCS -> committed data -> C++.

  tools/gen_commands.py --dump       start a local redis-server, write policy/commands/redis-<ver>.json
  tools/gen_commands.py --generate   dump + policy/commands/overlay.json -> policy/commands.inc
  tools/gen_commands.py --check      exit 1 if policy/commands.inc is stale (ctest runs this)
  tools/gen_commands.py --check-dump exit 1 if the live redis-server disagrees with the dump

Validation (the generator refuses to emit a table otherwise): every command whose key specs are
incomplete, unknown or variable_flags, and every movablekeys command, must have a dedicated parser
or kUnsupported in the overlay. Python 3 standard library only.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "policy", "commands")
DUMP = os.path.join(DATA, "redis-7.0.15.json")
OVERLAY = os.path.join(DATA, "overlay.json")
OUT = os.path.join(ROOT, "policy", "commands.inc")

CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
              "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
              "dangerous", "connection", "transaction", "scripting", "json", "search"]
TRAITS = {"keyspace_wide": "kKeyspaceWide", "scan": "kScanLike", "db_switch": "kDbSwitch",
          "connection_state": "kConnectionState", "script": "kScript", "function": "kFunction",
          "returns_data": "kReturnsData", "channels": "kChannels", "groups": "kGroups",
          "unsupported": "kUnsupported", "container": "kContainer", "subscribe": "kSubscribe",
          "blocking": "kBlocking", "introspection": "kIntrospection",
          "data_sized": "kDataSized", "bounded_count": "kBoundedCount",
          "limit_walks": "kLimitWalks", "count_walks": "kCountWalks", "trim_walks": "kTrimWalks",
          "collection_reply": "kCollectionReply", "history_walks": "kHistoryWalks",
          "field_reads": "kFieldReads", "value_reply": "kValueReply",
          "pop_count": "kPopCount", "entry_reads": "kEntryReads", "index_walks": "kIndexWalks"}
PARSERS = ["specs", "sort", "sort_ro", "georadius", "xread", "xreadgroup", "migrate", "set",
           "bitfield", "zadd", "xclaim", "xautoclaim", "eval", "evalsha", "fcall", "script_load",
           "publish", "subscribe", "psubscribe", "copy", "select", "move", "swapdb", "pubsub_numsub",
           "pubsub_channels", "none"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def live_dump():
    """Starts a throwaway redis-server and returns its COMMAND and COMMAND DOCS as JSON."""
    server = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if not server or not cli:
        sys.exit("redis-server and redis-cli are required (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            def run(*args):
                out = subprocess.run([cli, "-p", str(port), "-3", "--json", *args],
                                     check=True, capture_output=True, text=True).stdout
                return json.loads(out)
            info = subprocess.run([cli, "-p", str(port), "INFO", "server"], check=True,
                                  capture_output=True, text=True).stdout
            version = next(l.split(":")[1].strip() for l in info.splitlines()
                           if l.startswith("redis_version:"))
            return {"redis_version": version,
                    "commands": normalize(run("COMMAND")),
                    "docs": dict(sorted(run("COMMAND", "DOCS").items()))}
        finally:
            proc.terminate()
            proc.wait()


def normalize(entries):
    """COMMAND replies carry sets and subcommand maps in server hash order: sort them."""
    out = []
    for e in entries:
        e = list(e)
        e[2] = sorted(e[2])
        e[6] = sorted(e[6])
        e[9] = normalize(e[9])
        out.append(e)
    return sorted(out, key=lambda e: e[0])


def access_of(flags):
    """Redis 7 ACL semantics (docs/redis-acl-notes.md 1.3): access -> R; update/insert/delete -> W."""
    a = 0
    if "access" in flags:
        a |= 1
    if {"update", "insert", "delete"} & set(flags):
        a |= 2
    return a


def units(dump, overlay):
    """Flattens commands and subcommands, applying the overlay."""
    out = {}
    def add(entry, parent):
        name, arity, flags, _f, _l, _s, cats, _tips, specs, subs = entry
        out[name] = {"name": name, "arity": arity, "flags": flags,
                     "categories": [c.lstrip("@") for c in cats], "specs": specs,
                     "parent": parent, "traits": set(["container"] if subs else []),
                     "parser": "specs", "group_arg": 0}
        for sub in subs:
            add(sub, name)
    for entry in dump["commands"]:
        add(entry, None)
    for name, ov in overlay["commands"].items():
        if name.startswith("_"):
            continue
        if ov.get("new"):
            if name in out:
                sys.exit(f"overlay: {name} is marked new but Redis has it")
            parent = name.split("|")[0] if "|" in name else None
            if parent and parent not in out:
                sys.exit(f"overlay: parent of {name} unknown")
            out[name] = {"name": name, "arity": ov["arity"], "flags": ov.get("flags", []),
                         "categories": ov["categories"], "specs": ov.get("key_specs", []),
                         "parent": parent, "traits": set(), "parser": "specs", "group_arg": 0,
                         "reviewed": None}
        elif name not in out:
            sys.exit(f"overlay: unknown command {name} (mark it \"new\": true if Upstash-only)")
        u = out[name]
        u["traits"] |= set(ov.get("traits", []))
        u["parser"] = ov.get("parser", u["parser"])
        u["group_arg"] = ov.get("group_arg", 0)
        u["reviewed"] = ov.get("reviewed")
        if "categories_add" in ov:
            u["categories"] = sorted(set(u["categories"]) | set(ov["categories_add"]))
    for u in out.values():
        # A container refused as a whole (CLUSTER, MODULE) refuses every subcommand too.
        if u["parent"] and "unsupported" in out[u["parent"]]["traits"]:
            u["traits"].add("unsupported")
    for u in out.values():
        bad = [t for t in u["traits"] if t not in TRAITS]
        if bad or u["parser"] not in PARSERS:
            sys.exit(f"{u['name']}: unknown trait {bad} or parser {u['parser']}")
        for c in u["categories"]:
            if c not in CATEGORIES:
                sys.exit(f"{u['name']}: unknown category {c}")
        special = [s for s in u["specs"] if {"incomplete", "variable_flags"} & set(s["flags"])
                   or s["begin_search"]["type"] == "unknown" or s["find_keys"]["type"] == "unknown"]
        if (special or "movablekeys" in u["flags"]) and u["parser"] == "specs" \
                and "unsupported" not in u["traits"] and not all_keynum(u):
            sys.exit(f"{u['name']}: key specs are not complete; give it a parser in the overlay")
        if needs_review(u):
            sys.exit(f"{u['name']}: no key, or an admin/connection/blocking/... category, and no "
                     "class trait, parser or \"reviewed\" note in the overlay "
                     "(docs/command-classes.md)")
    return out


# Categories whose commands can act on the connection, the server or other tenants.
REVIEW_CATEGORIES = {"admin", "dangerous", "connection", "blocking", "transaction", "scripting",
                     "pubsub"}
CLASS_TRAITS = {"keyspace_wide", "scan", "db_switch", "connection_state", "script", "function",
                "channels", "groups", "unsupported", "container", "subscribe", "blocking",
                "introspection"}


def needs_review(u):
    """No command is forwarded unreviewed: one that names no key, or sits in a category that
    acts on the connection, the server or other tenants, needs a class, a parser or a note."""
    keyless = not [s for s in u["specs"] if "not_key" not in s["flags"]]
    risky = bool(REVIEW_CATEGORIES & set(u["categories"]))
    if not (keyless or risky):
        return False
    return not (u["traits"] & CLASS_TRAITS or u["parser"] != "specs" or u.get("reviewed"))


def all_keynum(u):
    """movablekeys commands whose specs are complete (keynum) need no dedicated parser."""
    return u["specs"] and all(s["find_keys"]["type"] == "keynum" or
                              s["begin_search"]["type"] == "index" for s in u["specs"]) \
        and not any({"incomplete", "variable_flags"} & set(s["flags"]) for s in u["specs"])


def cpp_str(s):
    return json.dumps(s)


def spec_row(s):
    bs, fk = s["begin_search"], s["find_keys"]
    if "not_key" in s["flags"]:
        return None
    if bs["type"] == "index":
        b = f"BeginSearch::Index, {bs['spec']['index']}, \"\", 0"
    elif bs["type"] == "keyword":
        b = f"BeginSearch::Keyword, 0, {cpp_str(bs['spec']['keyword'])}, {bs['spec']['startfrom']}"
    else:
        b = "BeginSearch::Unknown, 0, \"\", 0"
    if fk["type"] == "range":
        f = f"FindKeys::Range, {fk['spec']['lastkey']}, {fk['spec']['keystep']}, {fk['spec']['limit']}"
    elif fk["type"] == "keynum":
        f = f"FindKeys::Keynum, {fk['spec']['keynumidx']}, {fk['spec']['firstkey']}, {fk['spec']['keystep']}"
    else:
        f = "FindKeys::Unknown, 0, 0, 0"
    return f"{{{b}, {f}, {access_of(s['flags'])}}}"


def generate(dump, overlay):
    us = units(dump, overlay)
    names = sorted(us)
    ids = {n: i for i, n in enumerate(names)}
    specs, cmds, meta = [], [], []
    for n in names:
        u = us[n]
        rows = [r for r in (spec_row(s) for s in u["specs"]) if r]
        begin = len(specs)
        specs += rows
        cats = "|".join(f"C({c})" for c in sorted(u["categories"])) or "0"
        traits = "|".join(sorted(TRAITS[t] for t in u["traits"])) or "kTraitNone"
        parent = ids[u["parent"]] if u["parent"] else ids[n]
        cmds.append(f"    {{{ids[n]}, {cpp_str(n)}, {u['arity']}, {cats}, {traits}, {parent}}},")
        parser = "".join(p.capitalize() for p in u["parser"].split("_"))
        meta.append(f"    {{KeyParser::{parser}, {u['group_arg']}, {begin}, {len(rows)}}},  // {n}")
    lines = [
        "// Generated by tools/gen_commands.py from policy/commands/redis-"
        f"{dump['redis_version']}.json and policy/commands/overlay.json. Do not edit.",
        "// clang-format off",
        f"inline constexpr int kRedisCommandCount = {len(names)};",
        "#define C(x) categoryBit(Category::x)",
        "inline constexpr KeySpec kKeySpecs[] = {",
        *[f"    {s}," for s in specs],
        "};",
        "inline constexpr CommandInfo kCommandInfos[] = {",
        *cmds,
        "};",
        "inline constexpr CommandMeta kCommandMeta[] = {",
        *meta,
        "};",
        "#undef C",
        "// clang-format on",
        "",
    ]
    text = "\n".join(lines)
    for c in CATEGORIES:  # C(keyspace) -> C(Keyspace)
        text = text.replace(f"C({c})", f"C({cat_cpp(c)})")
    return text


def cat_cpp(c):
    return {"sortedset": "SortedSet", "hyperloglog": "HyperLogLog", "pubsub": "PubSub"}.get(
        c, c.capitalize())


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--dump", action="store_true")
    g.add_argument("--generate", action="store_true")
    g.add_argument("--check", action="store_true")
    g.add_argument("--check-dump", action="store_true")
    args = ap.parse_args()
    if args.dump:
        with open(DUMP, "w") as f:
            json.dump(live_dump(), f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {DUMP}")
    elif args.check_dump:
        if live_dump() != load(DUMP):
            sys.exit(f"{DUMP} differs from the live redis-server: run tools/gen_commands.py --dump")
        print("command dump matches the live redis-server")
    else:
        text = generate(load(DUMP), load(OVERLAY))
        if args.generate:
            with open(OUT, "w") as f:
                f.write(text)
            print(f"wrote {OUT}")
        else:
            with open(OUT) as f:
                if f.read() != text:
                    sys.exit(f"{OUT} is stale: run tools/gen_commands.py --generate")
            print("policy/commands.inc is fresh")


if __name__ == "__main__":
    main()
