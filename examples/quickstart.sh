#!/usr/bin/env bash
# lvm's offline quickstart: builds lvm, makes a throw-away lvm home and environment, installs
# the example rocks from the rocks server shipped in examples/server, and walks through list,
# log, running Lua with the environment, diff and rollback. Needs no network.
#
#   examples/quickstart.sh                 run the walk-through
#   examples/quickstart.sh --regenerate    first rebuild examples/server from examples/rocks,
#                                          and afterwards update the top-level manifest.json
#   LVM=/path/to/lvm examples/quickstart.sh   use that lvm instead of building one
#
# Everything it creates lives in a new temporary folder (printed at the start); the repository
# is changed only by --regenerate.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

regenerate=false
for a in "$@"; do
    case "$a" in
        --regenerate) regenerate=true ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "quickstart.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
    esac
done

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    step() { printf '\n== %s\n' "$*"; }
fi
show() { printf '$ %s\n' "$*"; "$@"; }

if [ -n "${LVM:-}" ]; then
    lvm_bin=$LVM
else
    step "Building lvm"
    show cargo build --release --locked --quiet
    lvm_bin=$repo/target/release/lvm
fi
# `lvm` in the transcript below is this binary.
lvm() { "$lvm_bin" "$@"; }

if $regenerate; then
    step "Regenerating examples/server from examples/rocks"
    rm -f examples/server/*.src.rock examples/server/manifest examples/server/manifest-5.*
    for spec in examples/rocks/*/*.rockspec; do
        show lvm pack "$spec" --to examples/server
    done
    show lvm make-manifest examples/server
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lvm-quickstart.XXXXXX")
export LVM_HOME=$work/home LVM_ENV=$work/env
step "Working in $work (LVM_HOME=$LVM_HOME, LVM_ENV=$LVM_ENV)"

# The server is given relative to the repository root (LuaRocks' file://relative form), so the
# recorded URL is the same on every machine; lvm commands that fetch run from this folder.
step "Creating an environment that uses the example rocks server"
show lvm init --server file://examples/server
show lvm search lvmx

step "Installing the example rocks (pure Lua): one, then three more with a shared dependency"
show lvm install lvmx-json
show lvm install lvmx-argparse lvmx-csv lvmx-inspect
show lvm list

if cmp -s "$LVM_ENV/manifest.json" manifest.json; then
    echo "The environment's manifest.json is identical to the repository's manifest.json."
elif $regenerate; then
    cp "$LVM_ENV/manifest.json" manifest.json
    echo "Updated manifest.json from the environment."
else
    echo "warning: the environment's manifest.json differs from the repository's manifest.json:" >&2
    diff -u manifest.json "$LVM_ENV/manifest.json" >&2 || true
    echo "(run examples/quickstart.sh --regenerate to update it)" >&2
fi

step "Installing a C module: lvm compiles it with the system's C compiler"
show lvm install lvmx-hash
show lvm diff
show lvm log --stat

lua_bin=""
for candidate in lua5.4 lua; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        [ "$("$candidate" -e 'io.write(_VERSION)' 2>/dev/null)" = "Lua 5.4" ]; then
        lua_bin=$candidate
        break
    fi
done
if [ -n "$lua_bin" ]; then
    step "Running Lua with the environment on LUA_PATH/LUA_CPATH"
    printf '$ eval "$(lvm path)"\n'
    eval "$(lvm path)"
    show "$lua_bin" examples/demo.lua --only lvmx-csv examples/rocks.csv
    show "$lua_bin" examples/demo.lua --json --only lvmx-hash examples/rocks.csv
else
    step "No Lua 5.4 interpreter found (lua5.4 or lua): skipping the Lua demo"
fi

if command -v luarocks >/dev/null 2>&1; then
    step "The tree is a LuaRocks tree: luarocks reads it too"
    show luarocks --lua-version 5.4 --tree "$LVM_ENV/tree" list
fi

step "Undoing the last change; the rollback is itself an event"
show lvm rollback
show lvm diff
show lvm log -n 3
show lvm verify
if [ -n "$lua_bin" ]; then
    show "$lua_bin" examples/demo.lua --only lvmx-hash examples/rocks.csv
fi
if cmp -s "$LVM_ENV/manifest.json" manifest.json; then
    echo "Back to the state of manifest.json."
fi

step "Done"
cat <<DONE
The environment stays in $work. To keep using it:
  export LVM_HOME=$LVM_HOME LVM_ENV=$LVM_ENV
  eval "\$($lvm_bin path)"
Its history is a git repository: git -C $LVM_ENV log
Remove it with: rm -rf $work
DONE
