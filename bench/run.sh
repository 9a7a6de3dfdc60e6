#!/usr/bin/env bash
# Benchmarks lvm side by side with LuaRocks on generated workloads and writes the results into
# docs/benchmarks.md (between its bench markers). See docs/benchmarks.md for what is measured.
#
#   bash bench/run.sh            the full suite (installs what it needs on Debian, builds lvm
#                                in release mode, about 10 minutes on 2 cores)
#   bash bench/run.sh --smoke    3 rocks, one lvm install and one luarocks install, 1 run; writes
#                                nothing into docs/ (used by tests/it/bench_smoke.rs)
#
# Options:
#   --lvm PATH          use this lvm binary instead of building one
#   --lux PATH          use this Lux (`lx`) for the Lux column of the shapes workload; by
#                       default the one in ~/.cache/lvm-bench/lux (XDG_CACHE_HOME), built
#                       there once with `cargo install lux-cli` when missing (long)
#   --no-lux            leave the Lux column out (the report says so)
#   --runs N            timed runs per fast command (default 5)
#   --slow-runs N       timed runs per LuaRocks 50-rock install (default 3)
#   --warmup N          warm-up runs (default 1)
#   --size M:L:C        closure shape: M mid rocks, L leaves each, C C modules (default 10:4:5)
#   --events N          events in the history workload (default 10000)
#   --doc FILE          where to write the results (default docs/benchmarks.md)
#   --no-setup          do not apt-get install anything
#   --debug-benches     run the cargo benches unoptimised (cargo test --bench), for debugging
#   --keep              keep the work directory
#   --only LIST         run only these workloads (comma-separated: install, luaversions,
#                       memory, rollback, switch, merge, history, search, startup, runtimes,
#                       bisect); luaversions installs the closure in Lua 5.1 and LuaJIT
#                       environments (Debian's lua5.1 and luajit, with headers); shapes installs
#                       rocks in the shapes of penlight, busted, luasocket and lpeg and times
#                       their bare compiles (bench/bare_compile.sh); bisect runs `lvm bisect
#                       run` over 64 states of the closure; rollback, switch and merge fill
#                       the store themselves, startup needs rollback; runtimes times the
#                       one-time interpreter builds (`lvm runtime install`; 5.1 only in --smoke);
#                       cache installs the closure in fresh homes from a warm build cache (a
#                       folder, and S3 on 127.0.0.1 when s3s-fs is on PATH, as .ci/run leaves it),
#                       with the rocks server on file:// and on http://127.0.0.1, and the C-heavy
#                       shapes (busted-, luasocket- and lpeg-like) built and from the caches
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR="$REPO/bench"

SMOKE=0
LVM=""
LUX=""
NO_LUX=0
LUX_VERSION="0.53.1"
LUX_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lvm-bench/lux"
RUNS=5
SLOW_RUNS=3
WARMUP=1
# The start-up pair: alternating rounds, runs of each command per round (see timed_pair).
PAIR_ROUNDS=8
PAIR_RUNS=25
SIZE="10:4:5"
EVENTS=10000
DOC="$REPO/docs/benchmarks.md"
SETUP=1
DEBUG_BENCHES=0
KEEP=0
ONLY="install,luaversions,shapes,cache,memory,rollback,switch,merge,history,search,startup,runtimes,bisect"

die() {
    echo "bench: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) SMOKE=1 ;;
    --lvm) LVM=$2; shift ;;
    --lux) LUX=$2; shift ;;
    --no-lux) NO_LUX=1 ;;
    --runs) RUNS=$2; shift ;;
    --slow-runs) SLOW_RUNS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --events) EVENTS=$2; shift ;;
    --doc) DOC=$2; shift ;;
    --no-setup) SETUP=0 ;;
    --debug-benches) DEBUG_BENCHES=1 ;;
    --keep) KEEP=1 ;;
    --only) ONLY=$2; shift ;;
    -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

if [ "$SMOKE" = 1 ]; then
    RUNS=1
    SLOW_RUNS=1
    WARMUP=0
    PAIR_ROUNDS=1
    PAIR_RUNS=1
    SIZE="1:1:1"
    SETUP=0
fi
IFS=: read -r MIDS LEAVES CMODS <<<"$SIZE"
for workload in ${ONLY//,/ }; do
    case "$workload" in
    install | luaversions | shapes | cache | memory | rollback | switch | merge | history | search | startup | runtimes | bisect) ;;
    *) die "unknown workload '$workload' in --only (see --help)" ;;
    esac
done
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if wanted startup && ! wanted rollback; then
    die "--only startup needs rollback too (start-up runs on the rollback workload's tree)"
fi

# ---------------------------------------------------------------------------------------------
# What the suite needs

have() { command -v "$1" >/dev/null 2>&1; }

if [ "$SETUP" = 1 ]; then
    missing=()
    have lua5.4 || missing+=(lua5.4)
    [ -f /usr/include/lua5.4/lua.h ] || missing+=(liblua5.4-dev)
    if wanted luaversions; then
        have lua5.1 || missing+=(lua5.1)
        [ -f /usr/include/lua5.1/lua.h ] || missing+=(liblua5.1-0-dev)
        have luajit || missing+=(luajit)
        [ -f /usr/include/luajit-2.1/lua.h ] || missing+=(libluajit-5.1-dev)
    fi
    have luarocks || missing+=(luarocks)
    have hyperfine || missing+=(hyperfine)
    [ -x /usr/bin/time ] || missing+=(time)
    have python3 || missing+=(python3)
    have openssl || missing+=(openssl)
    if wanted shapes && [ "$NO_LUX" = 0 ] && [ -z "$LUX" ] && [ ! -x "$LUX_CACHE/bin/lx" ]; then
        # What building lux-cli needs besides Rust: gpgme and pkg-config.
        [ -f /usr/include/gpgme.h ] || missing+=(libgpgme-dev)
        have pkg-config || missing+=(pkg-config)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "bench: installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi
for tool in lua5.4 luarocks luarocks-admin python3; do
    have "$tool" || die "$tool is missing (run without --no-setup, or apt-get install it)"
done
HYPERFINE=1
have hyperfine || HYPERFINE=0
[ "$HYPERFINE" = 1 ] || [ "$SMOKE" = 1 ] || die "hyperfine is missing (apt-get install hyperfine)"
GNU_TIME=1
[ -x /usr/bin/time ] || GNU_TIME=0

LVM_BUILD="given binary"
if [ -z "$LVM" ]; then
    LVM_BUILD="release build"
    echo "bench: cargo build --release --locked"
    (cd "$REPO" && cargo build --release --locked --quiet)
    TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    LVM="$TARGET_DIR/release/lvm"
fi
LVM=$(cd "$(dirname "$LVM")" && pwd)/$(basename "$LVM")
[ -x "$LVM" ] || die "lvm binary $LVM is not executable"

# Lux, the Rust LuaRocks-compatible manager, for the shapes workload: built once into a cache
# folder this script reuses (lux-cli $LUX_VERSION from the crates registry).
if wanted shapes && [ "$NO_LUX" = 0 ] && [ "$SMOKE" = 0 ]; then
    if [ -z "$LUX" ]; then
        LUX="$LUX_CACHE/bin/lx"
        if [ ! -x "$LUX" ]; then
            echo "bench: building lux-cli $LUX_VERSION into $LUX_CACHE (once; pass --no-lux to skip)"
            cargo install --locked --quiet lux-cli --version "$LUX_VERSION" --root "$LUX_CACHE" ||
                die "building lux-cli failed; install its build dependencies or pass --no-lux"
        fi
    fi
    [ -x "$LUX" ] || die "Lux binary $LUX is not executable (pass --no-lux to leave Lux out)"
else
    LUX=""
fi

# ---------------------------------------------------------------------------------------------
# Work directory, HTTP server, cleanup

W=$(mktemp -d "${TMPDIR:-/tmp}/lvm-bench.XXXXXX")
R="$W/results"
mkdir -p "$R"
# Prepare steps move the previous run's folders aside rather than delete them (see retire.sh).
RETIRE="sh $BENCH_DIR/retire.sh $W/retired"
retire() { sh "$BENCH_DIR/retire.sh" "$W/retired" "$@"; }
HTTP_PID=""
HTTPS_PID=""
S3_PID=""
SHAPES_HTTP_PID=""
cleanup() {
    local pid
    for pid in $HTTP_PID $HTTPS_PID $S3_PID $SHAPES_HTTP_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then
        rm -rf "$W/retired"
        echo "bench: kept $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LOG="$R/log.txt"
say() { echo "== $*" | tee -a "$LOG"; }

# ---------------------------------------------------------------------------------------------
# Timing helpers. Commands are timed without a shell in between (hyperfine -N) so that
# millisecond commands are measured exactly; a command with `&&` gets an explicit `sh -c`.
# Prepare steps always run under `sh -c`. Neither may contain single quotes then.

in_sh() {
    case "$1" in *"'"*) die "internal: cannot wrap a command with single quotes: $1" ;; esac
    echo "sh -c '$1'"
}

# timed NAME RUNS WARMUP PREPARE COMMAND: hyperfine's JSON into $R/NAME.json.
timed() {
    local name=$1 runs=$2 warmup=$3 prepare=$4 command=$5
    say "$name: $command"
    case "$command" in *"&&"*) command=$(in_sh "$command") ;; esac
    if [ "$HYPERFINE" = 1 ]; then
        local args=(-N --runs "$runs" --warmup "$warmup" --style basic
            --export-json "$R/$name.json" --command-name "$name")
        [ -z "$prepare" ] || args+=(--prepare "$(in_sh "$prepare")")
        if ! hyperfine "${args[@]}" "$command" >>"$LOG" 2>&1; then
            tail -20 "$LOG" >&2
            die "$name failed; rerun the command above by hand to see why"
        fi
        grep -A2 "Benchmark.*$name" "$LOG" | tail -2
    else
        # Without hyperfine (smoke runs only): the same JSON shape from a plain clock.
        local times=() i start end
        for ((i = 0; i < warmup + runs; i++)); do
            [ -z "$prepare" ] || sh -c "$prepare" >/dev/null 2>&1 || die "$name: prepare failed: $prepare"
            start=$(date +%s%N)
            sh -c "$command" >>"$LOG" 2>&1 || {
                tail -20 "$LOG" >&2
                die "$name failed: $command"
            }
            end=$(date +%s%N)
            [ "$i" -lt "$warmup" ] || times+=("$(((end - start) / 1000))")
        done
        python3 - "$R/$name.json" "$name" "$command" "${times[@]}" <<'EOF'
import json, statistics, sys
path, name, command, *micros = sys.argv[1:]
times = [int(m) / 1e6 for m in micros]
result = {"command": name, "mean": statistics.mean(times), "median": statistics.median(times),
          "min": min(times), "max": max(times), "times": times}
json.dump({"results": [result], "note": command}, open(path, "w"))
EOF
    fi
}

# timed_pair NAME_A COMMAND_A NAME_B COMMAND_B: two quick commands whose ratio is the result,
# timed in alternating rounds (each round runs both), so that a machine whose speed drifts
# during the run (a shared host) slows both alike. NAME.json holds every run of every round.
timed_pair() {
    local name_a=$1 command_a=$2 name_b=$3 command_b=$4 round
    if [ "$HYPERFINE" != 1 ]; then
        timed "$name_a" "$RUNS" "$WARMUP" "" "$command_a"
        timed "$name_b" "$RUNS" "$WARMUP" "" "$command_b"
        return
    fi
    say "$name_a / $name_b, $PAIR_ROUNDS alternating rounds of $PAIR_RUNS runs each"
    for ((round = 1; round <= PAIR_ROUNDS; round++)); do
        if ! hyperfine -N --runs "$PAIR_RUNS" --warmup "$((WARMUP * 3))" --style basic \
            --export-json "$R/pair-$round.json" "$command_a" "$command_b" >>"$LOG" 2>&1; then
            tail -20 "$LOG" >&2
            die "$name_a / $name_b failed; rerun the commands above by hand to see why"
        fi
    done
    python3 - "$R" "$PAIR_ROUNDS" "$name_a" "$name_b" <<'EOF'
import json, statistics, sys
results, rounds, *names = sys.argv[1:]
times = [[], []]
for r in range(1, int(rounds) + 1):
    exported = json.load(open(f"{results}/pair-{r}.json"))["results"]
    for i in (0, 1):
        times[i] += exported[i]["times"]
for name, t in zip(names, times):
    result = {"command": name, "mean": statistics.mean(t), "median": statistics.median(t),
              "min": min(t), "max": max(t), "times": t}
    json.dump({"results": [result]}, open(f"{results}/{name}.json", "w"))
    print(f"   {name}: median {statistics.median(t) * 1000:.2f} ms of {len(t)} runs")
EOF
    rm -f "$R"/pair-*.json
}

# peak NAME PREPARE COMMAND: the largest resident set of COMMAND and its children (GNU time).
peak() {
    local name=$1 prepare=$2 command=$3
    [ "$GNU_TIME" = 1 ] || return 0
    say "$name (peak memory): $command"
    [ -z "$prepare" ] || sh -c "$prepare" >>"$LOG" 2>&1 || die "$name: prepare failed"
    /usr/bin/time -v -o "$R/$name.time" sh -c "$command" >>"$LOG" 2>&1 || die "$name failed"
    sed -n 's/.*Maximum resident set size (kbytes): //p' "$R/$name.time" >"$R/$name.rss"
    echo "   max RSS $(cat "$R/$name.rss") kB"
}

# ---------------------------------------------------------------------------------------------
# Machine description

{
    echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "lvm=$("$LVM" --version) ($LVM_BUILD)"
    echo "luarocks=$(luarocks --version | head -1)"
    echo "lua=$(lua5.4 -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "lux=$(if [ -n "$LUX" ]; then "$LUX" --version; elif [ "$NO_LUX" = 1 ]; then echo "not measured (--no-lux)"; else echo "not measured"; fi)"
    echo "hyperfine=$(if [ "$HYPERFINE" = 1 ]; then hyperfine --version; else echo absent; fi)"
    echo "workdir_fs=$(df -T "$W" | awk 'NR == 2 {print $2 ", " $6 " full"}')"
    echo "load_start=$(cut -d' ' -f1-3 </proc/loadavg)"
    echo "runs=$RUNS"
    echo "slow_runs=$SLOW_RUNS"
    echo "warmup=$WARMUP"
    echo "size=$SIZE"
    echo "events=$EVENTS"
    echo "pair=$PAIR_ROUNDS:$PAIR_RUNS"
    echo "smoke=$SMOKE"
    echo "only=$ONLY"
} >"$R/machine.txt"

# ---------------------------------------------------------------------------------------------
# Workloads: rocks servers

CLOSURES=("bench-root:$SIZE")
[ "$SMOKE" = 1 ] || CLOSURES+=("bench-a:$SIZE" "bench-b:$SIZE")

FILE_SRV="$W/srv-file"
FILE_URL="file://$FILE_SRV"
say "generating rocks servers"
python3 "$BENCH_DIR/gen.py" rocks "$FILE_SRV" "$FILE_URL" "${CLOSURES[@]}" | tee -a "$LOG"
luarocks-admin make-manifest --lua-version 5.4 "$FILE_SRV" >>"$LOG" 2>&1

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_url URL: until URL answers (10 s at most).
wait_for_url() {
    python3 - "$1" <<'EOF'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

if [ "$SMOKE" = 0 ] && { wanted install || wanted cache; }; then
    PORT=$(free_port)
    HTTP_SRV="$W/srv-http"
    HTTP_URL="http://127.0.0.1:$PORT"
    python3 "$BENCH_DIR/gen.py" rocks "$HTTP_SRV" "$HTTP_URL" "${CLOSURES[@]}" >>"$LOG"
    luarocks-admin make-manifest --lua-version 5.4 "$HTTP_SRV" >>"$LOG" 2>&1
    python3 -m http.server --bind 127.0.0.1 "$PORT" --directory "$HTTP_SRV" >"$W/http.log" 2>&1 &
    HTTP_PID=$!
    wait_for_url "$HTTP_URL/manifest" || die "the HTTP server on 127.0.0.1 did not start (see $W/http.log)"
fi

# lvm with its own home (store + cache) and environment; luarocks with its own HOME (its
# download cache lives in ~/.cache/luarocks) and tree.
lvm_in() { echo "env LVM_HOME=$1 $LVM --env $2"; }
lr_in() { echo "env HOME=$1 luarocks --lua-version 5.4 --tree $2"; }

# ---------------------------------------------------------------------------------------------
# 1. Install: cold and warm, file:// and http://

install_pair() {
    local kind=$1 url=$2
    local H="$W/lvm-home-$kind" E="$W/lvm-env-$kind" LH="$W/lr-home-$kind" T="$W/lr-tree-$kind"
    local lvm lr
    lvm=$(lvm_in "$H" "$E")
    lr=$(lr_in "$LH" "$T")
    timed "install-cold-$kind-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $H $E && $lvm init --server $url" "$lvm install bench-root"
    timed "install-warm-$kind-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $E && $lvm init --server $url" "$lvm install bench-root"
    timed "install-cold-$kind-luarocks" "$SLOW_RUNS" 0 \
        "$RETIRE $T $LH && mkdir -p $LH" "$lr install --only-server $url bench-root"
    timed "install-warm-$kind-luarocks" "$SLOW_RUNS" "$WARMUP" \
        "$RETIRE $T" "$lr install --only-server $url bench-root"
}

if wanted install; then
    say "1. install"
    install_pair file "$FILE_URL"
    [ "$SMOKE" = 1 ] || install_pair http "$HTTP_URL"
fi

# The same closure in Lua 5.1 and LuaJIT environments (file://), on Debian's interpreters and
# headers; LuaRocks beside them for 5.1 (Debian's luarocks has no LuaJIT configuration).
install_lua() {
    local lua=$1 H="$W/lvm-home-$1" E="$W/lvm-env-$1" lvm
    lvm=$(lvm_in "$H" "$E")
    timed "install-cold-lua$lua-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $H $E && $lvm init --lua $lua --server $FILE_URL" "$lvm install bench-root"
    timed "install-warm-lua$lua-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $E && $lvm init --lua $lua --server $FILE_URL" "$lvm install bench-root"
    local interpreter=lua5.1 dir=5.1
    [ "$lua" = luajit ] && interpreter=luajit
    LUA_PATH="$E/tree/share/lua/$dir/?.lua;$E/tree/share/lua/$dir/?/init.lua" \
        LUA_CPATH="$E/tree/lib/lua/$dir/?.so" \
        $interpreter -e 'local m = require "bench_root"; assert(m.weight() > 1)' >>"$LOG" 2>&1 ||
        die "require 'bench_root' failed with $interpreter in $E/tree"
    [ "$lua" = 5.1 ] || return 0
    local LH="$W/lr-home-5.1" T="$W/lr-tree-5.1" lr
    lr="env HOME=$LH luarocks --lua-version 5.1 --tree $T"
    timed "install-cold-lua5.1-luarocks" "$SLOW_RUNS" 0 \
        "$RETIRE $T $LH && mkdir -p $LH" "$lr install --only-server $FILE_URL bench-root"
    timed "install-warm-lua5.1-luarocks" "$SLOW_RUNS" "$WARMUP" \
        "$RETIRE $T" "$lr install --only-server $FILE_URL bench-root"
}

if wanted luaversions && [ "$SMOKE" = 0 ]; then
    say "1b. install in Lua 5.1 and LuaJIT environments"
    install_lua 5.1
    install_lua luajit
fi

# Rocks in real rocks' shapes (bench/gen.py shapes): cold and warm installs, and for those with C
# files the bare compiles alone (the compile limit), as lvm runs them: same compiler, flags,
# files and number of parallel jobs.
lux_in() {
    echo "env HOME=$1 XDG_CONFIG_HOME=$1/config XDG_DATA_HOME=$1/data XDG_CACHE_HOME=$1/cache \
$LUX --allow-root --lua-version 5.4 --tree $2 --cache-dir $1/cache --data-dir $1/data --no-progress"
}

install_shape() {
    local root=$1 c_files=$2 c_rocks=$3 url=$4 srv=$5
    local H="$W/lvm-home-$root" E="$W/lvm-env-$root" LH="$W/lr-home-$root" T="$W/lr-tree-$root"
    local XH="$W/lux-home-$root" XT="$W/lux-tree-$root"
    local lvm lr module
    lvm=$(lvm_in "$H" "$E")
    lr=$(lr_in "$LH" "$T")
    timed "shape-$root-cold-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $H $E && $lvm init --server $url" "$lvm install $root"
    timed "shape-$root-warm-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $E && $lvm init --server $url" "$lvm install $root"
    timed "shape-$root-cold-luarocks" "$SLOW_RUNS" 0 \
        "$RETIRE $T $LH && mkdir -p $LH" "$lr install --only-server $url $root"
    case "$root" in
    shape-penlight) module=shape_pl ;;
    shape-lpeg) module=shape_re ;;
    *) module=${root//-/_} ;;
    esac
    local check="assert(require('$module').name or require('$module').weight)"
    $lvm run -e "$check" >>"$LOG" 2>&1 ||
        die "require '$module' failed in lvm's $root environment"
    LUA_PATH="$T/share/lua/5.4/?.lua;$T/share/lua/5.4/?/init.lua" LUA_CPATH="$T/lib/lua/5.4/?.so" \
        lua5.4 -e "$check" >>"$LOG" 2>&1 ||
        die "require '$module' failed in LuaRocks' $root tree"
    if [ -n "$LUX" ]; then
        local lux
        lux=$(lux_in "$XH" "$XT")
        timed "shape-$root-cold-lux" "$RUNS" "$WARMUP" "$RETIRE $XH $XT" \
            "$lux --server $url install $root"
        # Warm: the tree goes, Lux's cache (downloads, manifests) stays.
        timed "shape-$root-warm-lux" "$RUNS" "$WARMUP" "$RETIRE $XT" \
            "$lux --server $url install $root"
        LUA_PATH="$($lux path lua 2>/dev/null)" LUA_CPATH="$($lux path c 2>/dev/null)" \
            lua5.4 -e "$check" >>"$LOG" 2>&1 ||
            die "require '$module' failed in Lux's $root tree"
    fi
    if [ "$root" = bench-root ] && [ -n "$LUX" ]; then
        # Peak memory of the closure's installs, lvm beside Lux (compilers included: the
        # largest single process of the command).
        peak "memory-shape-cold-lvm" "$RETIRE $H $E && $lvm init --server $url" "$lvm install $root"
        peak "memory-shape-warm-lvm" "$RETIRE $E && $lvm init --server $url" "$lvm install $root"
        local lux
        lux=$(lux_in "$XH" "$XT")
        peak "memory-shape-cold-lux" "$RETIRE $XH $XT" "$lux --server $url install $root"
        peak "memory-shape-warm-lux" "$RETIRE $XT" "$lux --server $url install $root"
    fi
    [ "$c_files" -gt 0 ] || return 0
    local B="$W/bare-$root" unpack="" rock
    for rock in ${c_rocks//,/ }; do
        unpack="$unpack && tar xzf $srv/$rock-1.0-1.tar.gz -C $B"
    done
    timed "shape-$root-compile" "$RUNS" "$WARMUP" "$RETIRE $B && mkdir -p $B$unpack" \
        "bash $BENCH_DIR/bare_compile.sh $B /usr/include/lua5.4 $(nproc)"
}

# An HTTPS rocks server on 127.0.0.1 for the shapes workload (Lux fetches over HTTPS only):
# a throwaway CA made here, trusted through SSL_CERT_FILE by all three tools (OpenSSL, which
# lvm, LuaRocks' downloader and Lux use, reads it).
start_https() {
    local dir=$1 port=$2 tls="$W/tls"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 \
        -subj "/CN=lvm bench CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign" >>"$LOG" 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$tls/srv.key" -out "$tls/srv.csr" \
        -subj "/CN=127.0.0.1" >>"$LOG" 2>&1
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$tls/ext.cnf"
    openssl x509 -req -in "$tls/srv.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -out "$tls/srv.pem" -days 2 -extfile "$tls/ext.cnf" >>"$LOG" 2>&1
    python3 - "$port" "$dir" "$tls/srv.pem" "$tls/srv.key" >"$W/https.log" 2>&1 <<'PY' &
import functools, http.server, ssl, sys
port, directory, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
    HTTPS_PID=$!
    export SSL_CERT_FILE="$tls/ca.pem"
    # Only the throwaway CA is needed. A certificate folder set in the caller's environment
    # (some CI images set SSL_CERT_DIR) would have every tool that loads its roots up front
    # read and parse the whole folder on each run, which a user's machine does not do.
    CALLER_CERT_DIR=${SSL_CERT_DIR-}
    unset SSL_CERT_DIR
    python3 - "https://127.0.0.1:$port/manifest" <<'PY' || die "the HTTPS rocks server did not start (see $W/https.log)"
import ssl, sys, time, urllib.request
context = ssl.create_default_context(cafile=__import__("os").environ["SSL_CERT_FILE"])
for _ in range(50):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1, context=context).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

if wanted shapes; then
    say "1c. rocks in real rocks' shapes"
    SHAPE_SRV="$W/srv-shapes"
    if [ "$SMOKE" = 1 ]; then
        # The lpeg shape alone, its C files a twentieth of their size, over file://.
        python3 "$BENCH_DIR/gen.py" shapes "$SHAPE_SRV" "file://$SHAPE_SRV" 0.05 >"$R/shapes.txt"
        SHAPE_URL="file://$SHAPE_SRV"
    else
        SHAPE_PORT=$(free_port)
        SHAPE_URL="https://127.0.0.1:$SHAPE_PORT"
        python3 "$BENCH_DIR/gen.py" shapes "$SHAPE_SRV" "$SHAPE_URL" >"$R/shapes.txt"
        # The 51-rock closure of workload 1 beside them, so Lux runs it too.
        python3 "$BENCH_DIR/gen.py" rocks "$SHAPE_SRV" "$SHAPE_URL" "bench-root:$SIZE" >>"$LOG"
        echo "bench-root 0 -" >>"$R/shapes.txt"
    fi
    luarocks-admin make-manifest --lua-version 5.4 "$SHAPE_SRV" >>"$LOG" 2>&1
    [ "$SMOKE" = 1 ] || start_https "$SHAPE_SRV" "$SHAPE_PORT"
    while read -r root c_files c_rocks; do
        [ "$SMOKE" = 0 ] || [ "$root" = shape-lpeg ] || continue
        install_shape "$root" "$c_files" "$c_rocks" "$SHAPE_URL" "$SHAPE_SRV"
    done <"$R/shapes.txt"
    unset SSL_CERT_FILE
    [ -z "${CALLER_CERT_DIR-}" ] || export SSL_CERT_DIR="$CALLER_CERT_DIR"
fi

# Peak memory of the cold 50-rock install (file://), both tools, children included.
if wanted memory; then
    H="$W/lvm-home-mem" E="$W/lvm-env-mem" LH="$W/lr-home-mem" T="$W/lr-tree-mem"
    peak "memory-cold-lvm" "$RETIRE $H $E && $(lvm_in "$H" "$E") init --server $FILE_URL" \
        "$(lvm_in "$H" "$E") install bench-root"
    peak "memory-warm-lvm" "$RETIRE $E && $(lvm_in "$H" "$E") init --server $FILE_URL" \
        "$(lvm_in "$H" "$E") install bench-root"
    peak "memory-cold-luarocks" "$RETIRE $T $LH && mkdir -p $LH" \
        "$(lr_in "$LH" "$T") install --only-server $FILE_URL bench-root"
fi

# The tree lvm made must work with plain lua5.4, as LuaRocks' does.
check_tree() {
    LUA_PATH="$1/share/lua/5.4/?.lua;$1/share/lua/5.4/?/init.lua" LUA_CPATH="$1/lib/lua/5.4/?.so" \
        lua5.4 -e 'local m = require "bench_root"; assert(m.weight() > 1); print(m.describe())' \
        >>"$LOG" 2>&1 || die "require 'bench_root' failed in $1"
}
if wanted install; then
    check_tree "$W/lvm-env-file/tree"
    check_tree "$W/lr-tree-file"
fi

# 7. One-time interpreter builds (run last, or right after the install in --smoke): each from an
#    empty runtimes folder, wall time, one run each since a build happens once per machine.
runtime_builds() {
    wanted runtimes || return 0
    say "7. interpreter builds"
    local ids="5.1 5.2 5.3 5.4 5.5 luajit" id
    [ "$SMOKE" = 1 ] && ids="5.1"
    for id in $ids; do
        timed "runtime-$id-lvm" 1 0 "$RETIRE $W/rt-home" \
            "env LVM_HOME=$W/rt-home $LVM -q runtime install $id"
    done
}

# ---------------------------------------------------------------------------------------------
# 1c. Build cache: the closure installed cold (a fresh lvm home) from a warm cache, against the
# cold install that builds (workload 1). One home fills the cache with `lvm cache push`; each
# timed run starts from an empty home that trusts the pushing key. Then the same for the C-heavy
# shapes of bench/gen.py, where a build costs seconds: the closure is nearly all pure Lua, so
# its building install is little more than a store hit.

# cache_install KIND CACHE_URL VARS SERVER [ROOT]: ROOT (default bench-root) installed cold
# from the warm cache CACHE_URL, timed as install-cold-cache-KIND-lvm; nothing may be built.
cache_install() {
    local kind=$1 url=$2 vars=$3 server=$4 root=${5:-bench-root}
    local H="$W/lvm-home-cache-$kind" E="$W/lvm-env-cache-$kind" lvm
    lvm="env $vars LVM_CACHES=$url LVM_TRUSTED_KEYS=$CACHE_PUB $(lvm_in "$H" "$E")"
    timed "install-cold-cache-$kind-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $H $E && $lvm init --server $server" "$lvm install $root"
    sh -c "$lvm stats --json" >"$R/cache-$kind-stats.json" 2>>"$LOG"
    python3 - "$R/cache-$kind-stats.json" <<'EOF' || die "the $kind cache install built something (see $LOG)"
import json, sys
stats = json.load(open(sys.argv[1]))
assert stats["builds"] == 0 and sum(stats["cache_hits"].values()) > 0, stats
EOF
}

# start_s3: s3s-fs on 127.0.0.1 with a bucket `bench`; sets S3_VARS (the AWS variables lvm reads).
start_s3() {
    local root="$W/s3-root" url
    mkdir -p "$root/bench"
    RUST_LOG=info s3s-fs --host 127.0.0.1 --port 0 --access-key bench --secret-key bench-secret \
        "$root" >"$W/s3.log" 2>&1 &
    S3_PID=$!
    for _ in $(seq 100); do grep -q 'server is running at' "$W/s3.log" && break; sleep 0.1; done
    url=$(sed -n 's/.*server is running at //p' "$W/s3.log" | head -1)
    [ -n "$url" ] || die "s3s-fs did not start (see $W/s3.log)"
    S3_VARS="AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1"
}

# push_everywhere LVM PREFIX: the builds of LVM's environment to the folder cache
# $W/cache-PREFIX and, with s3s-fs, to s3://bench/PREFIX.
push_everywhere() {
    local lvm=$1 prefix=$2
    $lvm cache push --key "$W/cache.key" --to "file://$W/cache-$prefix" >>"$LOG" 2>&1 ||
        die "lvm cache push to a folder failed (see $LOG)"
    [ -n "$S3_VARS" ] || return 0
    env $S3_VARS $lvm cache push --key "$W/cache.key" --to "s3://bench/$prefix" >>"$LOG" 2>&1 ||
        die "lvm cache push to S3 failed (see $LOG)"
}

# cache_shape ROOT URL: ROOT's cold install that builds (cache-ROOT-build-lvm), then cold
# installs from the folder cache and from S3 that its last build filled.
cache_shape() {
    local root=$1 url=$2
    local H="$W/lvm-home-cache-build-$root" E="$W/lvm-env-cache-build-$root" lvm
    lvm=$(lvm_in "$H" "$E")
    timed "cache-$root-build-lvm" "$RUNS" "$WARMUP" \
        "$RETIRE $H $E && $lvm init --server $url" "$lvm install $root"
    push_everywhere "$lvm" "$root"
    cache_install "$root-folder" "file://$W/cache-$root" "" "$url" "$root"
    if [ -n "$S3_VARS" ]; then
        cache_install "$root-s3" "s3://bench/$root" "$S3_VARS" "$url" "$root"
    else
        echo "s3s-fs is not on PATH (.ci/run installs it)" >"$R/install-cold-cache-$root-s3-lvm.na"
    fi
}

if [ "$SMOKE" = 0 ] && wanted cache; then
    say "1c. build cache"
    S3_VARS=""
    if have s3s-fs; then start_s3; fi
    H="$W/lvm-home-cache-fill" E="$W/lvm-env-cache-fill"
    LVMC=$(lvm_in "$H" "$E")
    retire "$H" "$E" "$W/cache.key"
    sh -c "$LVMC init --server $FILE_URL && $LVMC install bench-root" >>"$LOG" 2>&1
    CACHE_PUB=$($LVM cache key generate --name bench-1 --out "$W/cache.key" 2>>"$LOG")
    # The same closure from the HTTP server: its sources are http:// archives, which recipe
    # records vouch for (file:// sources are always read, see docs/cache.md).
    H="$W/lvm-home-cache-fill-http" E="$W/lvm-env-cache-fill-http"
    LVMH=$(lvm_in "$H" "$E")
    retire "$H" "$E"
    sh -c "$LVMH init --server $HTTP_URL && $LVMH install bench-root" >>"$LOG" 2>&1
    for fill in "$LVMC" "$LVMH"; do push_everywhere "$fill" closure; done
    cache_install folder "file://$W/cache-closure" "" "$FILE_URL"
    cache_install folder-http "file://$W/cache-closure" "" "$HTTP_URL"
    if [ -n "$S3_VARS" ]; then
        cache_install s3 s3://bench/closure "$S3_VARS" "$FILE_URL"
        cache_install s3-http s3://bench/closure "$S3_VARS" "$HTTP_URL"
    else
        echo "s3s-fs is not on PATH (.ci/run installs it)" >"$R/install-cold-cache-s3-lvm.na"
        echo "s3s-fs is not on PATH (.ci/run installs it)" >"$R/install-cold-cache-s3-http-lvm.na"
    fi
    # The C-heavy shapes on their own HTTP server, so their published sources take the recipe
    # records' path, as from a team's rocks server.
    SHAPES_PORT=$(free_port)
    SHAPES_URL="http://127.0.0.1:$SHAPES_PORT"
    python3 "$BENCH_DIR/gen.py" shapes "$W/srv-cache-shapes" "$SHAPES_URL" >"$R/cache-shapes.txt"
    luarocks-admin make-manifest --lua-version 5.4 "$W/srv-cache-shapes" >>"$LOG" 2>&1
    python3 -m http.server --bind 127.0.0.1 "$SHAPES_PORT" --directory "$W/srv-cache-shapes" \
        >"$W/http-shapes.log" 2>&1 &
    SHAPES_HTTP_PID=$!
    wait_for_url "$SHAPES_URL/manifest" ||
        die "the shapes' HTTP server on 127.0.0.1 did not start (see $W/http-shapes.log)"
    for root in shape-busted shape-socket shape-lpeg; do cache_shape "$root" "$SHAPES_URL"; done
fi

if [ "$SMOKE" = 1 ]; then
    runtime_builds
    echo "load_end=$(cut -d' ' -f1-3 </proc/loadavg)" >>"$R/machine.txt"
    python3 "$BENCH_DIR/report.py" "$R" "$DOC"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# 2. Undo and redo

if wanted rollback; then
    say "2. rollback"
    H="$W/lvm-home-file" E="$W/lvm-env-undo"
    LVMU=$(lvm_in "$H" "$E")
    retire "$E"
    sh -c "$LVMU init --server $FILE_URL && $LVMU install bench-root && $LVMU rollback" >>"$LOG" 2>&1
    # Each rollback undoes the event before it, so rollbacks toggle between the installed state and
    # the empty one: the prepare step makes the state the timed command starts from.
    timed "rollback-undo-lvm" "$RUNS" "$WARMUP" "$LVMU rollback" "$LVMU rollback"
    sh -c "$LVMU rollback" >>"$LOG" 2>&1
    timed "rollback-redo-lvm" "$RUNS" "$WARMUP" "$LVMU rollback" "$LVMU rollback"
    $LVMU list >"$R/undo-list.txt"
    grep -q '^bench-root ' "$R/undo-list.txt" || die "after the redo runs bench-root should be installed"
    $LVMU log >"$R/undo-log.txt"
    du -sb "$E/.git" | cut -f1 >"$R/undo-git-bytes"

    LH="$W/lr-home-file" T="$W/lr-tree-undo"
    LRU=$(lr_in "$LH" "$T")
    sh -c "$LRU install --only-server $FILE_URL bench-root" >>"$LOG" 2>&1
    cp -a "$T" "$T.installed"
    timed "rollback-undo-luarocks" "$RUNS" "$WARMUP" "$RETIRE $T && cp -a $T.installed $T" "$LRU purge"
fi

# ---------------------------------------------------------------------------------------------
# 3. Profile switch between two 50-rock profiles

if wanted switch; then
    say "3. profile switch"
    H="$W/lvm-home-file" E="$W/lvm-env-switch" LH="$W/lr-home-file"
    LVMS=$(lvm_in "$H" "$E")
    sh -c "$LVMS init --server $FILE_URL && $LVMS profile create other && $LVMS install bench-a \
        && $LVMS profile switch other && $LVMS install bench-b && $LVMS profile switch default" \
        >>"$LOG" 2>&1
    timed "switch-lvm" "$RUNS" "$WARMUP" "$LVMS profile switch other" "$LVMS profile switch default"

    T="$W/lr-tree-switch"
    LRS=$(lr_in "$LH" "$T")
    sh -c "$LRS install --only-server $FILE_URL bench-a" >>"$LOG" 2>&1
    cp -a "$T" "$T.a"
    timed "switch-luarocks" "$SLOW_RUNS" "$WARMUP" "$RETIRE $T && cp -a $T.a $T" \
        "$LRS purge && $LRS install --only-server $FILE_URL bench-b"
fi

# ---------------------------------------------------------------------------------------------
# 3b. Three-way merge of two 51-rock profiles

if wanted merge; then
    say "3b. profile merge"
    H="$W/lvm-home-file" E="$W/lvm-env-merge"
    LVMM=$(lvm_in "$H" "$E")
    retire "$E"
    # From a common empty state, profile 'ours' gets bench-a and 'theirs' bench-b.
    sh -c "$LVMM init --server $FILE_URL && $LVMM profile create theirs && $LVMM install bench-a \
        && $LVMM profile create ours && $LVMM profile switch theirs && $LVMM install bench-b \
        && $LVMM profile switch ours" >>"$LOG" 2>&1
    # A profile merged once is merged already, so each run merges into a fresh copy of 'ours'.
    timed "merge-lvm" "$RUNS" "$WARMUP" \
        "$LVMM profile switch ours && ($LVMM profile delete try || true) && $LVMM profile create try --from ours && $LVMM profile switch try" \
        "$LVMM profile merge theirs"
    [ "$($LVMM list | wc -l)" -eq "$((2 * (1 + MIDS * (1 + LEAVES))))" ] || die "the merge should hold both closures"
fi

# ---------------------------------------------------------------------------------------------
# 4. History: 10,000 events

if wanted history; then
    say "4. history ($EVENTS events)"
    HIST="$W/hist-env"
    if [ "$DEBUG_BENCHES" = 1 ]; then
        (cd "$REPO" && cargo test --quiet --locked --bench history -- "$HIST" --events "$EVENTS") | tee "$R/history.txt"
    else
        (cd "$REPO" && cargo bench --quiet --locked --bench history -- "$HIST" --events "$EVENTS") | tee "$R/history.txt"
    fi
    LVMH=$(lvm_in "$W/lvm-home-hist" "$HIST")
    [ "$($LVMH log | wc -l)" -eq "$EVENTS" ] || die "lvm log does not show $EVENTS events"
    du -sb "$HIST/.git" | cut -f1 >"$R/history-git-bytes-loose"
    timed "log-lvm" "$RUNS" "$WARMUP" "" "$LVMH log"
    timed "log-n20-lvm" "$RUNS" "$WARMUP" "" "$LVMH log -n 20"
    timed "list-lvm" "$RUNS" "$WARMUP" "" "$LVMH list"
    # History tools: blame walks the log back to the oldest event that brought an installed
    # version; why reads the state only.
    timed "blame-lvm" "$RUNS" "$WARMUP" "" "$LVMH blame"
    # awk reads the whole list: `head` would close the pipe and lvm would stop with SIGPIPE.
    WHY_NAME=$($LVMH list | awk 'NR == 1 {print $1}')
    [ -n "$WHY_NAME" ] || die "the history environment has no package for lvm why"
    timed "why-lvm" "$RUNS" "$WARMUP" "" "$LVMH why $WHY_NAME"
    git -C "$HIST" gc --quiet
    du -sb "$HIST/.git" | cut -f1 >"$R/history-git-bytes-gc"
    timed "log-gc-lvm" "$RUNS" "$WARMUP" "" "$LVMH log"
fi

# ---------------------------------------------------------------------------------------------
# 5. Resolution and manifest parsing on 5,000 packages

if wanted search; then
    say "5. resolution and manifest parsing"
    if [ "$DEBUG_BENCHES" = 1 ]; then
        CARGO_BENCH=(cargo test --quiet --locked --bench)
    else
        CARGO_BENCH=(cargo bench --quiet --locked --bench)
    fi
    (cd "$REPO" && "${CARGO_BENCH[@]}" resolve) | tee "$R/resolve.txt"
    (cd "$REPO" && "${CARGO_BENCH[@]}" manifest_parse) | tee "$R/manifest_parse.txt"
    BIG="$W/srv-big"
    python3 "$BENCH_DIR/gen.py" manifest "$BIG" 5000 4 | tee -a "$LOG"
    # `luarocks-admin make-manifest` also writes the per-Lua-version copy, and `luarocks search`
    # reads only that one from a server (manif.load_manifest's versioned_only): without it, it
    # finds nothing and only warns.
    cp "$BIG/manifest" "$BIG/manifest-5.4"
    E="$W/lvm-env-big"
    LVMB=$(lvm_in "$W/lvm-home-big" "$E")
    sh -c "$LVMB init --server file://$BIG" >>"$LOG" 2>&1
    $LVMB search package-4321 >"$R/search-lvm.txt" 2>&1 || die "lvm search failed: $(cat "$R/search-lvm.txt")"
    grep -q 'package-4321 1.0.3-1' "$R/search-lvm.txt" || die "lvm search did not find package-4321"
    # Warm: the search above left the parsed manifest in lvm's cache. Cold: without it, as for
    # the first search after the server's manifest changed.
    timed "search-lvm" "$RUNS" "$WARMUP" "" "$LVMB search package-4321"
    timed "search-cold-lvm" "$RUNS" "$WARMUP" "rm -f $W/lvm-home-big/cache/*/manifest.lvm-parsed" \
        "$LVMB search package-4321"
    LRB="env HOME=$W/lr-home-big luarocks --lua-version 5.4"
    mkdir -p "$W/lr-home-big"
    $LRB search --only-server "$BIG" package-4321 >"$R/search-luarocks.txt" 2>&1 ||
        die "luarocks search failed: $(cat "$R/search-luarocks.txt")"
    # The query is echoed in the header; a found package lists its versions.
    grep -q '1.0.3-1 (rockspec)' "$R/search-luarocks.txt" || die "luarocks search did not find package-4321"
    timed "search-luarocks" "$RUNS" "$WARMUP" "" "$LRB search --only-server $BIG package-4321"
fi

# ---------------------------------------------------------------------------------------------
# 6. Start-up: lvm run vs lua5.4 on the same tree

if wanted startup; then
    say "6. start-up"
    E="$W/lvm-env-undo"
    TREE="$E/tree"
    LUA_ENV="env 'LUA_PATH=$TREE/share/lua/5.4/?.lua;$TREE/share/lua/5.4/?/init.lua' 'LUA_CPATH=$TREE/lib/lua/5.4/?.so'"
    LUA_CMD="$LUA_ENV lua5.4 -e 'require\"bench_root\"'"
    RUN_CMD="$LVMU run -e 'require\"bench_root\"'"
    if ! $LVMU run --help >/dev/null 2>&1; then
        echo "lvm run is not available in this build" >"$R/startup-lvm.na"
    elif ! sh -c "$RUN_CMD" >"$R/run-check.txt" 2>&1; then
        echo "lvm run failed: $(head -1 "$R/run-check.txt")" >"$R/startup-lvm.na"
    fi
    if [ -e "$R/startup-lvm.na" ]; then
        timed "startup-lua" "$RUNS" "$WARMUP" "" "$LUA_CMD"
    else
        timed_pair "startup-lvm" "$RUN_CMD" "startup-lua" "$LUA_CMD"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 8. Bisect: 64 states of the 51-rock closure
#
# init, install bench-root, then 62 events that each install one more pure-Lua leaf of the
# bench-a and bench-b closures (no dependencies), so every state has its own package set
# (51 to 113 rocks) and its own tree. The test fails once the 31st of those leaves loads, so
# `lvm bisect run` looks for that event among 64 states: the bad state first, then about
# log2(64) = 6 halvings, each state made from the store. The test command alone on the live
# tree is timed too: a step's cost beyond it is (total / tests - test alone).

if wanted bisect; then
    say "8. bisect (64 states)"
    H="$W/lvm-home-file" E="$W/lvm-env-bisect"
    LVMB=$(lvm_in "$H" "$E")
    retire "$E"
    sh -c "$LVMB init --server $FILE_URL && $LVMB install bench-root" >>"$LOG" 2>&1
    # The leaves whose rockspec builds no C source, 62 of them.
    mapfile -t LEAVES < <(cd "$FILE_SRV" && grep -L 'sources' bench-[ab]-l*.rockspec |
        sed 's/-1\.0-1\.rockspec$//' | sort | head -62)
    [ "${#LEAVES[@]}" -eq 62 ] || die "bisect needs 62 pure-Lua leaves in bench-a and bench-b"
    for leaf in "${LEAVES[@]}"; do
        $LVMB install "$leaf" >>"$LOG" 2>&1 || die "installing $leaf failed"
    done
    [ "$($LVMB log | wc -l)" -eq 64 ] || die "the bisect history should have 64 events"
    BAD_LEAF=${LEAVES[30]}
    BAD_MODULE=${BAD_LEAF//-/_}
    $LVMB bisect run --json -- lua5.4 -e "if pcall(require, '$BAD_MODULE') then os.exit(1) end" \
        >"$R/bisect.json" 2>>"$LOG" || die "lvm bisect run failed (see $R/bisect.json)"
    python3 - "$R/bisect.json" "$R/bisect-steps" "$BAD_LEAF" <<'EOF' || die "lvm bisect run did not find the install of $BAD_LEAF"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["result"] == "first_bad" and sys.argv[3] in out["first_bad"]["summary"], out
assert out["states"] == 64, out
assert all(s["rebuilt"] == 0 for s in out["steps"]), out
open(sys.argv[2], "w").write(str(len(out["steps"])))
EOF
    BISECT_LUA="'if pcall(require, \"$BAD_MODULE\") then os.exit(1) end'"
    timed "bisect-lvm" "$RUNS" "$WARMUP" "" "$LVMB bisect run -- lua5.4 -e $BISECT_LUA"
    TREE="$E/tree"
    timed "bisect-test-lua" "$RUNS" "$WARMUP" "" \
        "env LUA_PATH=$TREE/share/lua/5.4/?.lua LUA_CPATH=$TREE/lib/lua/5.4/?.so lua5.4 -e 'pcall(require, \"$BAD_MODULE\")'"
fi

# ---------------------------------------------------------------------------------------------
# 7. One-time interpreter builds

runtime_builds

echo "load_end=$(cut -d' ' -f1-3 </proc/loadavg)" >>"$R/machine.txt"
python3 "$BENCH_DIR/report.py" "$R" "$DOC"
