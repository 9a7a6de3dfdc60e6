#!/usr/bin/env python3
"""Builds the results table of bench/run.sh and writes it into a markdown file.

  report.py RESULTS_DIR DOC

Reads hyperfine's JSON exports (NAME.json), peak memory (NAME.rss, kB), the cargo bench
outputs (resolve.txt, manifest_parse.txt, history.txt), repository sizes and machine.txt from
RESULTS_DIR, prints the markdown and puts it between the bench markers of DOC (creating DOC or
appending the markers when they are missing).
"""

import json
import os
import re
import sys

BEGIN = "<!-- bench:begin (written by bench/run.sh; do not edit by hand) -->"
END = "<!-- bench:end -->"

KIB = 1024
MIB = 1024 * 1024


def read(results, name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def timing(results, name):
    """(median, min, max) in seconds from a hyperfine export, or None."""
    text = read(results, f"{name}.json")
    if text is None:
        return None
    result = json.loads(text)["results"][0]
    return result["median"], result["min"], result["max"]


def number(results, name):
    text = read(results, name)
    return int(text.strip()) if text and text.strip() else None


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.01:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


def fmt_timing(t):
    if t is None:
        return "—"
    median, low, high = t
    return f"{fmt_time(median)} <sub>({fmt_time(low)}–{fmt_time(high)})</sub>"


def fmt_bytes(n):
    if n is None:
        return "—"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{n / KIB:.2f} KiB"
    return f"{n} B"


def verdict(ok):
    if ok is None:
        return "—"
    return "met" if ok else "**missed**"


DURATION = re.compile(r"([\d.]+)(ns|µs|us|ms|s)\b")
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def duration(text):
    m = DURATION.match(text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def resolve_results(results):
    """[(request, outcome, median seconds)] from `cargo bench --bench resolve`."""
    text = read(results, "resolve.txt") or ""
    out = []
    for line in text.splitlines():
        m = re.match(r"request (\[.*?\]): (.*?); min (\S+), median (\S+), max (\S+)", line)
        if m:
            out.append((m.group(1), m.group(2), duration(m.group(4))))
    return out


def manifest_parse_results(results):
    """[(form, milliseconds, MB)] from `cargo bench --bench manifest_parse`."""
    text = read(results, "manifest_parse.txt") or ""
    return re.findall(r"^(\w+) manifest: ([\d.]+) ms \(best of \d+, ([\d.]+) MB\)", text, re.M)


def cached_form_results(results):
    """[(step, milliseconds)] for the cached parsed form, from the same bench."""
    text = read(results, "manifest_parse.txt") or ""
    return re.findall(r"^cached form, (.+?): ([\d.]+) ms", text, re.M)


def machine(results):
    info = {}
    for line in (read(results, "machine.txt") or "").splitlines():
        key, _, value = line.partition("=")
        info[key] = value
    return info


def rows(results):
    """The comparison table: one row per measurement."""
    out = []

    def ratio_row(label, lvm_name, lr_name, max_ratio, note=""):
        lvm = timing(results, lvm_name)
        lr = timing(results, lr_name)
        if lvm is None and lr is None:
            return
        ratio = lvm[0] / lr[0] if lvm and lr else None
        if not max_ratio:
            target = "—"
        elif max_ratio < 1:
            target = f"ratio ≤ 1/{round(1 / max_ratio)}"
        else:
            target = f"ratio ≤ {max_ratio:g}"
        ok = (ratio <= max_ratio) if (ratio is not None and max_ratio) else None
        out.append(
            (label, fmt_timing(lvm), fmt_timing(lr), f"{ratio:.3f}" if ratio else "—", target,
             verdict(ok), note)
        )

    def absolute_row(label, lvm_name, lr_name, limit, note=""):
        lvm = timing(results, lvm_name)
        if lvm is None:
            return
        lr = timing(results, lr_name) if lr_name else None
        ratio = f"{lvm[0] / lr[0]:.3f}" if lr else "—"
        target = f"lvm ≤ {fmt_time(limit)}" if limit else "—"
        ok = lvm[0] <= limit if limit else None
        out.append((label, fmt_timing(lvm), fmt_timing(lr), ratio, target, verdict(ok), note))

    size = machine(results).get("size", "10:4:5").split(":")
    rocks = 1 + int(size[0]) * (1 + int(size[1]))
    ratio_row(f"cold install, {rocks} rocks, file://", "install-cold-file-lvm",
              "install-cold-file-luarocks", 1 / 3,
              "empty lvm home / empty luarocks tree and cache")
    ratio_row(f"warm install, {rocks} rocks, file://", "install-warm-file-lvm",
              "install-warm-file-luarocks", 1 / 20,
              "lvm: store filled, fresh env; luarocks: tree removed, cache kept")
    ratio_row(f"cold install, {rocks} rocks, http://127.0.0.1", "install-cold-http-lvm",
              "install-cold-http-luarocks", 1 / 3, "")
    ratio_row(f"warm install, {rocks} rocks, http://127.0.0.1", "install-warm-http-lvm",
              "install-warm-http-luarocks", 1 / 20, "")
    caches = [("folder", "a folder (file://)", "file"), ("s3", "S3 on 127.0.0.1 (s3s-fs)", "file"),
              ("folder-http", "a folder (file://), rocks over http://127.0.0.1", "http"),
              ("s3-http", "S3 on 127.0.0.1 (s3s-fs), rocks over http://127.0.0.1", "http")]
    for kind, where, server in caches:
        ratio_row(f"cold install from a build cache, {rocks} rocks, {where}",
                  f"install-cold-cache-{kind}-lvm", f"install-cold-{server}-lvm", 1 / 5,
                  f"second column: lvm's cold {server}:// install that builds; a fresh home "
                  "fetches every build from the warm cache, signatures and hashes checked"
                  + ("; http:// sources: recipe records stand in for downloading them"
                     if server == "http" else "; file:// sources are read and hashed"))
        ratio_row(f"cold install from a build cache vs LuaRocks, {rocks} rocks, {where}",
                  f"install-cold-cache-{kind}-lvm", f"install-cold-{server}-luarocks", 1 / 20,
                  f"second column: LuaRocks' cold {server}:// install")
    # Where a build costs seconds: the C-heavy shapes, rocks over http://127.0.0.1.
    for root, label in SHAPES:
        for kind, where in [("folder", "a folder (file://)"), ("s3", "S3 on 127.0.0.1 (s3s-fs)")]:
            ratio_row(f"cold install from a build cache, {label}, {where}",
                      f"install-cold-cache-{root}-{kind}-lvm", f"cache-{root}-build-lvm", 1 / 5,
                      "second column: lvm's cold install that compiles it, rocks over "
                      "http://127.0.0.1; recipe records stand in for the sources")
    for lua, name in [("5.1", "Lua 5.1"), ("luajit", "LuaJIT")]:
        ratio_row(f"cold install, {rocks} rocks, file://, {name} environment",
                  f"install-cold-lua{lua}-lvm", f"install-cold-lua{lua}-luarocks", 1 / 3,
                  "Debian's interpreter and headers; luarocks --lua-version 5.1"
                  if lua == "5.1" else "Debian's luajit and headers; no LuaRocks column")
        ratio_row(f"warm install, {rocks} rocks, file://, {name} environment",
                  f"install-warm-lua{lua}-lvm", f"install-warm-lua{lua}-luarocks", 1 / 20, "")
    absolute_row(f"undo: `lvm rollback` vs `luarocks purge`, {rocks} rocks",
                 "rollback-undo-lvm", "rollback-undo-luarocks", 0.1)
    absolute_row(f"redo: `lvm rollback` (store hit) vs reinstall, {rocks} rocks",
                 "rollback-redo-lvm", "install-warm-file-luarocks", 0.1,
                 "luarocks column: the warm file:// install above (same command, same state)")
    absolute_row(f"profile switch, {rocks} ↔ {rocks} rocks", "switch-lvm", "switch-luarocks", 0.1,
                 "luarocks: purge, then install the other closure")
    absolute_row(f"three-way `lvm profile merge`, {rocks} + {rocks} rocks", "merge-lvm", None,
                 None, "from a common empty state; the merged tree of both closures made "
                 "from the store")
    events = f'{int(machine(results).get("events", "10000")):,}'
    absolute_row(f"`lvm log`, {events} events", "log-lvm", None, 0.05, "as lvm leaves it: packed every 256 events, plain log from a checked cache")
    absolute_row(f"`lvm log` after `git gc`, {events} events", "log-gc-lvm", None, 0.05)
    absolute_row(f"`lvm log -n 20`, {events} events", "log-n20-lvm", None, None)
    absolute_row(f"`lvm list`, {events} events", "list-lvm", None, None)
    absolute_row(f"`lvm blame` (every package), {events} events", "blame-lvm", None, 0.1,
                 "reads the log back to the oldest event that brought an installed version")
    absolute_row(f"`lvm why NAME`, {events} events", "why-lvm", None, 0.1, "reads the state only")
    ratio_row("search one package, 5,000-package manifest", "search-lvm", "search-luarocks", None,
              "`lvm search` vs `luarocks search --only-server DIR`: both read the whole manifest; "
              "lvm finds its parse cached under the manifest's sha256")
    ratio_row("search one package, 5,000-package manifest, nothing cached", "search-cold-lvm",
              "search-luarocks", None,
              "lvm parses the Lua manifest and caches the result, as for the first search after "
              "the manifest changed")
    for rid, name in [("5.1", "Lua 5.1.5"), ("5.2", "Lua 5.2.4"), ("5.3", "Lua 5.3.6"),
                      ("5.4", "Lua 5.4"), ("5.5", "Lua 5.5"), ("luajit", "LuaJIT 2.1")]:
        absolute_row(f"one-time build of {name}: `lvm runtime install {rid}`",
                     f"runtime-{rid}-lvm", None, None,
                     "wall time from an empty runtimes folder, one run (once per machine)")
    bisect = timing(results, "bisect-lvm")
    steps = number(results, "bisect-steps")
    test = timing(results, "bisect-test-lua")
    if bisect and steps:
        absolute_row(f"`lvm bisect run`, 64 states of {rocks} to {rocks + 62} rocks ({steps} tests)",
                     "bisect-lvm", None, None,
                     "a trivial lua5.4 test; every state's tree made from the store")
        per_step = bisect[0] / steps
        beyond = per_step - test[0] if test else None
        out.append((f"`lvm bisect run`, one step beyond the test command",
                    fmt_time(beyond), "—", "—", f"lvm ≤ {fmt_time(0.1)}",
                    verdict(beyond <= 0.1 if beyond is not None else None),
                    f"total / {steps} tests ({fmt_time(per_step)}) minus the test alone on a "
                    f"tree ({fmt_time(test[0]) if test else '—'})"))
    pair_rounds, pair_runs = machine(results).get("pair", "8:25").split(":")
    na = read(results, "startup-lvm.na")
    if na:
        lua = timing(results, "startup-lua")
        out.append(("start-up: `lvm run -e 'require\"bench_root\"'` vs `lua5.4 -e`",
                    f"not available ({na.strip()})", fmt_timing(lua), "—", "—", "—",
                    "lua5.4 column: plain lua5.4 with LUA_PATH/LUA_CPATH on the same tree"))
    else:
        ratio_row("start-up: `lvm run -e 'require\"bench_root\"'` vs `lua5.4 -e`", "startup-lvm",
                  "startup-lua", 1.3,
                  "second column: plain lua5.4 with LUA_PATH/LUA_CPATH on the same tree; "
                  f"both timed in alternating rounds ({pair_rounds} of {pair_runs} runs each), "
                  "medians of all runs")
    return out


SHAPES = [
    ("bench-root", "the closure of workload 1 (51 rocks, 5 C)"),
    ("shape-penlight", "penlight-like: 60 pure-Lua modules + 1 C rock (1 file)"),
    ("shape-busted", "busted-like: 10 rocks, 2 with C (4 files)"),
    ("shape-socket", "luasocket-like: 1 rock, 12 C files in 4 modules"),
    ("shape-lpeg", "lpeg-like: 1 C module of 6 files"),
]


def ratio(a, b):
    return a[0] / b[0] if a and b else None


def fmt_ratio(r, limit):
    if r is None:
        return "—"
    mark = "" if limit is None else (" ✓" if r <= limit else " ✗")
    return f"{r:.2f}{mark}"


def shape_rows(results):
    """One row per real-rock shape and install kind: lvm, Lux and LuaRocks side by side, and the
    bare compiles of its C files (the compile limit)."""
    out = []
    for root, label in SHAPES:
        cold = timing(results, f"shape-{root}-cold-lvm")
        if cold is None:
            continue
        lux = timing(results, f"shape-{root}-cold-lux")
        lr = timing(results, f"shape-{root}-cold-luarocks")
        bare = timing(results, f"shape-{root}-compile")
        out.append((f"{label}, cold", fmt_timing(cold), fmt_timing(lux), fmt_timing(lr),
                    fmt_ratio(ratio(cold, lux), 2 / 3), fmt_ratio(ratio(cold, lr), 1 / 10),
                    fmt_timing(bare), fmt_ratio(ratio(cold, bare), 1.15)))
        warm = timing(results, f"shape-{root}-warm-lvm")
        warm_lux = timing(results, f"shape-{root}-warm-lux")
        out.append((f"{label}, warm", fmt_timing(warm), fmt_timing(warm_lux), "—",
                    fmt_ratio(ratio(warm, warm_lux), 1 / 20), "—", "—", "—"))
    return out


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def render(results):
    info = machine(results)
    parts = []
    loaded = (f" Load average (1, 5, 15 min) {info.get('load_start', '?')} at the start, "
              f"{info.get('load_end', '?')} at the end.")
    try:
        cores = int(info.get("nproc", "0"))
        # The 1-minute averages describe the run itself; the longer ones remember earlier work.
        loads = [(info.get(key) or "0").split()[0] for key in ("load_start", "load_end")]
        if cores and max(float(x) for x in loads) > cores * 0.5:
            loaded += (" The machine was busy during the run (1-minute load average above half "
                       "the cores): absolute times are inflated, ratios less so.")
    except (ValueError, IndexError):
        pass
    parts.append(
        f"Run of {info.get('date', '?')}: {info.get('nproc', '?')} cores ({info.get('cpu', '?')}), "
        f"{info.get('ram', '?')} RAM, {info.get('kernel', '?')}, work folder on "
        f"{info.get('workdir_fs', '?')}; {info.get('lvm', '?')}, "
        f"{info.get('luarocks', '?')}, {info.get('lua', '?')}, {info.get('hyperfine', '?')}. "
        f"Medians of {info.get('runs', '?')} runs after {info.get('warmup', '?')} warm-up "
        f"({info.get('slow_runs', '?')} runs for LuaRocks' 50-rock installs and switches), "
        f"min–max in small print. Before each timed run the previous run's folders are moved "
        f"aside, not deleted (`bench/retire.sh`).{loaded}"
    )
    if info.get("smoke") == "1":
        parts[-1] = "Smoke run (3 rocks, 1 run): not a measurement. " + parts[-1]

    parts.append(table(["workload", "lvm", "luarocks", "lvm / luarocks", "target", "", "notes"],
                       rows(results)))

    shapes = shape_rows(results)
    if shapes:
        lux = info.get("lux", "not measured")
        parts.append(
            "Rocks in real rocks' shapes (`bench/gen.py shapes`) and the closure of workload 1, "
            "all three tools on one HTTPS rocks server on 127.0.0.1 (Lux fetches over HTTPS "
            "only; a throwaway CA trusted through SSL_CERT_FILE, SSL_CERT_DIR unset); "
            f"Lux: {lux}. Cold: empty home, cache and tree; warm: lvm's store filled and "
            "Lux's cache kept, fresh environment or tree. "
            "*Bare compile* runs the same compiler, flags and files as lvm's builtin build, as "
            "many at a time as the machine has cores (`bench/bare_compile.sh`). Targets: cold ≤ "
            "2/3 of Lux and ≤ 1/10 of LuaRocks, cold ≤ 1.15 × the bare compile, warm ≤ 1/20 of "
            "Lux (✓ met, ✗ missed).")
        parts.append(table(["workload", "lvm", "Lux", "LuaRocks", "lvm / Lux", "lvm / LuaRocks",
                            "bare compile", "lvm / compile"], shapes))

    mem_rows = []
    limit = 64 * MIB
    for name, label, target in [
        ("memory-cold-lvm", "lvm, cold install", True),
        ("memory-warm-lvm", "lvm, warm install", True),
        ("memory-cold-luarocks", "luarocks, cold install", False),
    ]:
        kb = number(results, f"{name}.rss")
        if kb is None:
            continue
        ok = kb * KIB <= limit if target else None
        mem_rows.append((label, fmt_bytes(kb * KIB), "≤ 64 MiB" if target else "—", verdict(ok)))
    if mem_rows:
        parts.append("Peak memory of the file:// install (GNU time's maximum resident set size: the "
                     "largest single process of the command, compilers included):")
        parts.append(table(["command", "peak RSS", "target", ""], mem_rows))

    lux_mem_rows = []
    for kind in ("cold", "warm"):
        ours = number(results, f"memory-shape-{kind}-lvm.rss")
        theirs = number(results, f"memory-shape-{kind}-lux.rss")
        if ours is None or theirs is None:
            continue
        lux_mem_rows.append((f"the closure of workload 1 (51 rocks, 5 C), {kind}",
                             fmt_bytes(ours * KIB), fmt_bytes(theirs * KIB),
                             f"{ours / theirs:.2f}", "≤ Lux", verdict(ours <= theirs)))
    if lux_mem_rows:
        parts.append("Peak memory beside Lux, on the HTTPS rocks server of the shapes (GNU time's "
                     "maximum resident set size: the largest single process of the command, "
                     "compilers included):")
        parts.append(table(["workload", "lvm", "Lux", "lvm / Lux", "target", ""], lux_mem_rows))

    events = int(info.get("events", "10000"))
    loose = number(results, "history-git-bytes-loose")
    packed = number(results, "history-git-bytes-gc")
    repo_rows = []
    if loose is not None:
        repo_rows.append((f"{events:,} single-package events, as lvm leaves them (packed every 256 events)",
                          fmt_bytes(loose), fmt_bytes(loose / events), "≤ 2 KiB",
                          verdict(loose / events <= 2 * KIB)))
    if packed is not None:
        repo_rows.append((f"the same after `git gc`", fmt_bytes(packed), fmt_bytes(packed / events),
                          "≤ 2 KiB", verdict(packed / events <= 2 * KIB)))
    undo_bytes = number(results, "undo-git-bytes")
    undo_log = read(results, "undo-log.txt")
    if undo_bytes is not None and undo_log:
        n = len(undo_log.splitlines())
        repo_rows.append((f"the undo/redo environment: {n} events of 51-rock changes (fewer than 256: all loose)",
                          fmt_bytes(undo_bytes), fmt_bytes(undo_bytes / n), "—", "—"))
    if repo_rows:
        parts.append("Environment repository size (`du -sb .git`):")
        parts.append(table(["history", ".git", "per event", "target", ""], repo_rows))

    resolve = resolve_results(results)
    if resolve:
        worst = max(r[2] for r in resolve if r[2] is not None)
        lines = [(req.replace("|", "/"), outcome, fmt_time(med)) for req, outcome, med in resolve]
        parts.append(
            "Resolution (`cargo bench --bench resolve`, in-process PubGrub over a generated "
            "5,000-package source; median of 20): slowest request "
            f"{fmt_time(worst)}, target ≤ 100 ms: {verdict(worst <= 0.1)}. "
            "LuaRocks has no separate resolver entry point; the closest comparison is the "
            "search row above, which reads and parses a 5,000-package manifest.")
        parts.append(table(["request", "outcome", "median"], lines))
    parsed = manifest_parse_results(results)
    if parsed:
        parts.append("Server manifest parsing (`cargo bench --bench manifest_parse`, 5,000 packages "
                     "× 4 versions, best of 3): " +
                     "; ".join(f"{form} form {ms} ms ({mb} MB)" for form, ms, mb in parsed) + ".")
        cached = cached_form_results(results)
        if cached:
            parts[-1] += (" The parsed form lvm caches: " +
                          "; ".join(f"{step} {ms} ms" for step, ms in cached) + ".")
    history = read(results, "history.txt")
    if history:
        parts.append("History generator (`cargo bench --bench history`):\n\n```\n" +
                     history.strip() + "\n```")
    return "\n\n".join(parts) + "\n"


def write(doc, body):
    block = f"{BEGIN}\n{body}{END}"
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        before = text[: text.index(BEGIN)]
        after = text[text.index(END) + len(END):]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(doc, "w") as f:
        f.write(text)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    body = render(argv[1])
    print(body)
    write(argv[2], body)


if __name__ == "__main__":
    main(sys.argv)
