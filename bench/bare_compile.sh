#!/usr/bin/env bash
# The compile limit of a C workload: what compiling it costs with nothing else around.
#
#   bash bench/bare_compile.sh DIR INCDIR JOBS
#
# Compiles every `csrc/*.c` below DIR exactly as lvm's builtin build does (`cc -O2 -fPIC
# -IINCDIR -c FILE -o FILE.o`), JOBS at a time, then links each C module's objects into a
# shared object (`cc -shared`), JOBS at a time. The files of one module share a name up to
# `_N.c` (how bench/gen.py's `shapes` names them).
set -euo pipefail
dir=$1 inc=$2 jobs=$3
CC=${CC:-cc}
find "$dir" -path '*/csrc/*.c' -print0 |
    xargs -0 -r -P "$jobs" -I{} "$CC" -O2 -fPIC "-I$inc" -c {} -o {}.o
find "$dir" -name '*.c.o' | sed 's/_[0-9]*\.c\.o$//' | sort -u |
    xargs -r -P "$jobs" -I{} sh -c "$CC -shared -o {}.so {}_*.c.o"
