#!/usr/bin/env python3
"""Workload generators for bench/run.sh.

  gen.py rocks DIR BASE_URL NAME:MIDS:LEAVES:CMODS [...]
      Writes a rocks server into DIR: for each closure NAME, a root rock NAME depending on MIDS
      rocks NAME-mNN, each depending on LEAVES rocks NAME-lNN-M. CMODS of the leaves are C
      modules (builtin build of one tiny C file); the rest are pure Lua. Every rock gets a
      rockspec whose source.url is BASE_URL/NAME-VERSION.tar.gz and that deterministic
      .tar.gz. The server manifest is left to `luarocks-admin make-manifest`.

  gen.py shapes DIR BASE_URL [SCALE]
      Writes rocks in the shapes real ones have into DIR (same rules as `rocks`): shape-penlight
      (one pure-Lua rock of 60 modules plus shape-lfs, one C file), shape-busted (10 rocks, 2
      with C modules), shape-socket (one rock, 12 C files in 4 C modules plus Lua modules) and
      shape-lpeg (one C module of 6 files plus a Lua module). SCALE (default 1.0) multiplies
      the size of every C file. Prints one line per workload: `ROOT C_FILES C_ROCKS`, where
      C_ROCKS lists the rocks of its closure that have C files (comma-separated, `-` if none).

  gen.py manifest DIR PACKAGES VERSIONS
      Writes DIR/manifest: a server manifest with PACKAGES packages of VERSIONS versions each,
      byte for byte the text benches/manifest_parse.rs parses (same shape as the manifests
      `luarocks-admin make-manifest` writes, with `commands` and `modules` indexes).
"""

import gzip
import io
import os
import sys
import tarfile

VERSION = "1.0-1"


def module_name(package):
    return package.replace("-", "_")


def lua_source(package, deps):
    requires = "\n".join(
        f'deps[#deps + 1] = require("{module_name(d)}")' for d in deps
    )
    return f"""-- {package}: generated benchmark module.
local M = {{ name = "{package}" }}
local deps = {{}}
{requires}

-- A little real code, so loading it is not free.
function M.weight()
  local total = 1
  for _, dep in ipairs(deps) do
    total = total + (type(dep.weight) == "function" and dep.weight() or 1)
  end
  return total
end

function M.describe()
  local parts = {{}}
  for i, dep in ipairs(deps) do
    parts[i] = tostring(dep.name or dep)
  end
  return M.name .. "(" .. table.concat(parts, ",") .. ")"
end

return M
"""


def luaopen(symbol, entries, name):
    """`luaopen_<symbol>`: a table of the C functions `entries` (`{"name", function}`), with
    `name` in its field `name`; for every Lua (`luaL_register` before 5.2)."""
    regs = "".join(f"        {entry},\n" for entry in entries)
    return f"""int luaopen_{symbol}(lua_State *L) {{
    static const luaL_Reg functions[] = {{
{regs}        {{NULL, NULL}},
    }};
#if LUA_VERSION_NUM >= 502
    luaL_newlib(L, functions);
#else
    lua_newtable(L);
    luaL_register(L, NULL, functions);
#endif
    lua_pushliteral(L, "{name}");
    lua_setfield(L, -2, "name");
    return 1;
}}
"""


def c_source(package):
    mod = module_name(package)
    return f"""/* {package}: generated benchmark C module. */
#include <lua.h>
#include <lauxlib.h>

static int weight(lua_State *L) {{
    lua_pushinteger(L, 1);
    return 1;
}}

static int add(lua_State *L) {{
    lua_Integer a = luaL_checkinteger(L, 1);
    lua_Integer b = luaL_checkinteger(L, 2);
    lua_pushinteger(L, a + b);
    return 1;
}}

""" + luaopen(mod, ['{"weight", weight}', '{"add", add}'], package)


def rockspec(package, base_url, deps, is_c):
    dep_list = ", ".join(['"lua >= 5.1"'] + [f'"{d} >= 1.0"' for d in deps])
    mod = module_name(package)
    if is_c:
        modules = f'{mod} = {{ sources = {{ "src/{mod}.c" }} }}'
    else:
        modules = f'{mod} = "src/{mod}.lua"'
    return f"""package = "{package}"
version = "{VERSION}"
source = {{ url = "{base_url}/{package}-{VERSION}.tar.gz" }}
description = {{
  summary = "Generated benchmark rock {package}",
  license = "MIT",
}}
dependencies = {{ {dep_list} }}
build = {{
  type = "builtin",
  modules = {{ {modules} }},
}}
"""


def tar_gz(top, files):
    """A deterministic .tar.gz of `files` ({relative path: text}) under `top/`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))

    return gzip.compress(raw.getvalue(), mtime=0)


def readme(package):
    """The README every generated archive has beside its sources, as real ones do (a source
    folder holding only one folder is taken for a wrapper by some tools and descended into)."""
    return f"# {package}\n\nGenerated benchmark rock.\n"


def write_rock(out_dir, base_url, package, deps, is_c):
    mod = module_name(package)
    if is_c:
        files = {f"src/{mod}.c": c_source(package)}
    else:
        files = {f"src/{mod}.lua": lua_source(package, deps)}
    files["README.md"] = readme(package)
    top = f"{package}-{VERSION}"
    with open(os.path.join(out_dir, f"{top}.rockspec"), "w") as f:
        f.write(rockspec(package, base_url, deps, is_c))
    with open(os.path.join(out_dir, f"{top}.tar.gz"), "wb") as f:
        f.write(tar_gz(top, files))


def closure(out_dir, base_url, spec):
    try:
        name, mids, leaves, cmods = spec.split(":")
        mids, leaves, cmods = int(mids), int(leaves), int(cmods)
    except ValueError:
        sys.exit(f"gen.py: closure '{spec}': expected NAME:MIDS:LEAVES:CMODS")
    # C leaves are spread over the mids: the first leaf of every (mids // cmods)-th mid.
    stride = max(1, mids // cmods) if cmods else 0
    c_leaves = set()
    for m in range(mids):
        if cmods and m % stride == 0 and len(c_leaves) < cmods:
            c_leaves.add(f"{name}-l{m + 1:02d}-1")
    mid_names = []
    count = 0
    for m in range(mids):
        mid = f"{name}-m{m + 1:02d}"
        mid_names.append(mid)
        leaf_names = [f"{name}-l{m + 1:02d}-{j + 1}" for j in range(leaves)]
        for leaf in leaf_names:
            write_rock(out_dir, base_url, leaf, [], leaf in c_leaves)
            count += 1
        write_rock(out_dir, base_url, mid, leaf_names, False)
        count += 1
    write_rock(out_dir, base_url, name, mid_names, False)
    count += 1
    return count, len(c_leaves)


# ---------------------------------------------------------------------------------------------
# Real-rock shapes

def c_unit(tag, functions):
    """A C file of `functions` functions of about fifteen lines of real work each (integer and
    string arithmetic on Lua values), so its compile costs what a real file of that size does.
    Defines `int <tag>_entry(lua_State *L)`, which calls them all."""
    out = [f"/* generated benchmark C file {tag} */\n#include <string.h>\n"
           "#include <lua.h>\n#include <lauxlib.h>\n"]
    for i in range(functions):
        out.append(f"""
static lua_Integer {tag}_f{i}(lua_State *L, lua_Integer x) {{
    size_t len = 0;
    const char *s = lua_tolstring(L, 1, &len);
    lua_Integer acc = x * {i + 3} + (lua_Integer)len;
    for (size_t k = 0; s != NULL && k < len; k++) {{
        acc = (acc * 31 + (unsigned char)s[k]) % 1000003;
        if (acc % {i % 7 + 2} == 0) acc += {i};
        else acc ^= (acc >> 3);
    }}
    switch (acc % 4) {{
    case 0: acc += {i * 5}; break;
    case 1: acc -= {i + 11}; break;
    case 2: acc *= 3; break;
    default: acc = acc / 2 + 1;
    }}
    return acc < 0 ? -acc : acc;
}}
""")
    calls = "\n".join(f"    acc = {tag}_f{i}(L, acc);" for i in range(functions))
    out.append(f"""
int {tag}_entry(lua_State *L) {{
    lua_Integer acc = luaL_optinteger(L, 2, 1);
{calls}
    lua_pushinteger(L, acc);
    return 1;
}}
""")
    return "".join(out)


def c_module_files(mod, parts, functions):
    """The files of a C module `mod` (a dotted name) made of `parts` C files: the first holds
    luaopen_<mod>, which registers every part's entry point as `partN`."""
    symbol = mod.replace(".", "_")
    files = {}
    for k in range(parts):
        files[f"csrc/{symbol}_{k}.c"] = c_unit(f"{symbol}_{k}", functions)
    decls = "\n".join(f"int {symbol}_{k}_entry(lua_State *L);" for k in range(parts))
    entries = [f'{{"part{k}", {symbol}_{k}_entry}}' for k in range(parts)]
    files[f"csrc/{symbol}_0.c"] += f"\n{decls}\n\n" + luaopen(symbol, entries, mod)
    return files


def lua_module(mod, requires, functions=8):
    """A Lua module that requires `requires` and defines `functions` small functions."""
    lines = [f"-- {mod}: generated benchmark module.", f'local M = {{ name = "{mod}" }}']
    lines += [f'local dep{i} = require("{r}")' for i, r in enumerate(requires)]
    for i in range(functions):
        lines.append(f"""
function M.f{i}(t)
  local out = {{}}
  for k, v in pairs(t or {{}}) do
    if type(v) == "number" then out[k] = v * {i + 2} else out[k] = tostring(v) .. "{i}" end
  end
  return out
end""")
    lines.append("\nreturn M\n")
    return "\n".join(lines)


def write_shaped_rock(out_dir, base_url, package, deps, lua_mods, c_mods, scale):
    """A rock with Lua modules `lua_mods` ({module: [required modules]}) and C modules `c_mods`
    ({module: (parts, functions)}); returns its number of C files."""
    # A test folder beside the sources, as real rocks have (nobody installs it).
    files = {"README.md": readme(package), "spec/smoke_spec.lua": f"-- tests of {package}\n"}
    modules = []
    for mod, requires in lua_mods.items():
        path = "lua/" + mod.replace(".", "/") + ".lua"
        files[path] = lua_module(mod, requires)
        modules.append(f'["{mod}"] = "{path}"')
    c_files = 0
    for mod, (parts, functions) in c_mods.items():
        own = c_module_files(mod, parts, max(1, round(functions * scale)))
        files.update(own)
        c_files += len(own)
        srcs = ", ".join(f'"{p}"' for p in sorted(own))
        modules.append(f'["{mod}"] = {{ sources = {{ {srcs} }} }}')
    dep_list = ", ".join(['"lua >= 5.1"'] + [f'"{d} >= 1.0"' for d in deps])
    top = f"{package}-{VERSION}"
    spec = f"""package = "{package}"
version = "{VERSION}"
source = {{ url = "{base_url}/{top}.tar.gz" }}
description = {{ summary = "Generated rock in a real rock's shape: {package}", license = "MIT" }}
dependencies = {{ {dep_list} }}
build = {{
  type = "builtin",
  modules = {{
    {(","+chr(10)+"    ").join(modules)}
  }},
}}
"""
    with open(os.path.join(out_dir, f"{top}.rockspec"), "w") as f:
        f.write(spec)
    with open(os.path.join(out_dir, f"{top}.tar.gz"), "wb") as f:
        f.write(tar_gz(top, files))
    return c_files


def shapes(out_dir, base_url, scale):
    """The four real-rock-shaped workloads; returns [(root, C files in its closure, the rocks
    of its closure that have C files)]."""
    def rock(package, deps, lua_mods, c_mods=None):
        return write_shaped_rock(out_dir, base_url, package, deps, lua_mods, c_mods or {}, scale)

    def many(prefix, count, requires=()):
        return {f"{prefix}.m{i + 1:02d}": list(requires) for i in range(count)}

    out = []
    # penlight + luafilesystem: 60 pure-Lua modules, one C file.
    lfs = rock("shape-lfs", [], {}, {"shape_lfs": (1, 60)})
    pl = dict(many("shape_pl", 59, ["shape_lfs"]))
    pl["shape_pl"] = ["shape_pl.m01", "shape_pl.m30", "shape_pl.m59"]
    rock("shape-penlight", ["shape-lfs"], pl)
    out.append(("shape-penlight", lfs, ["shape-lfs"]))
    # busted: 10 rocks, 2 of them C (a terminal and a system library).
    term = rock("shape-term", [], {"shape_term.colors": []}, {"shape_term.core": (1, 25)})
    system = rock("shape-system", [], {"shape_system": ["shape_system.core"]},
                  {"shape_system.core": (3, 30)})
    for name, mods in [("shape-say", many("shape_say", 2)),
                       ("shape-mediator", many("shape_mediator", 1)),
                       ("shape-cliargs", many("shape_cliargs", 4)),
                       ("shape-dkjson", many("shape_dkjson", 1)),
                       ("shape-ansicolors", many("shape_ansicolors", 1)),
                       ("shape-plmin", many("shape_plmin", 10))]:
        rock(name, [], mods)
    rock("shape-luassert", ["shape-say"], many("shape_luassert", 15, ["shape_say.m01"]))
    busted_deps = ["shape-say", "shape-luassert", "shape-mediator", "shape-term", "shape-cliargs",
                   "shape-system", "shape-dkjson", "shape-ansicolors", "shape-plmin"]
    busted = dict(many("shape_busted", 19, ["shape_luassert.m01", "shape_say.m01"]))
    busted["shape_busted"] = ["shape_busted.m01", "shape_term.core", "shape_system",
                              "shape_cliargs.m01", "shape_dkjson.m01", "shape_mediator.m01",
                              "shape_ansicolors.m01", "shape_plmin.m01"]
    rock("shape-busted", busted_deps, busted)
    out.append(("shape-busted", term + system, ["shape-term", "shape-system"]))
    # luasocket: one rock, 12 C files in 4 C modules, and its Lua modules.
    socket = rock("shape-socket", [], {
        "shape_socket": ["shape_socket.core"],
        "shape_socket.http": ["shape_socket", "shape_socket.url"],
        "shape_socket.url": [],
        "shape_ltn12": [],
        "shape_mime": ["shape_mime.core"],
    }, {"shape_socket.core": (8, 40), "shape_mime.core": (1, 30),
        "shape_socket.unix": (2, 30), "shape_socket.serial": (1, 20)})
    out.append(("shape-socket", socket, ["shape-socket"]))
    # lpeg: one C module of 6 files, and re.lua.
    lpeg = rock("shape-lpeg", [], {"shape_re": ["shape_lpeg"]}, {"shape_lpeg": (6, 60)})
    out.append(("shape-lpeg", lpeg, ["shape-lpeg"]))
    return out


def big_manifest(packages, versions):
    """Mirrors lua_manifest() in benches/manifest_parse.rs exactly."""
    out = ["commands = {\n"]
    for p in range(0, packages, 10):
        out.append(f'   ["tool-{p}"] = {{\n      "package-{p}/1.0.{versions}-1"\n   }},\n')
    out.append("}\nmodules = {\n")
    for p in range(packages):
        out.append(f'   ["package_{p}.core"] = {{\n      "package-{p}/1.0.0-1"\n   }},\n')
    out.append("}\nrepository = {\n")
    for p in range(packages):
        out.append(f'   ["package-{p}"] = {{\n')
        for v in range(versions):
            out.append(
                f'      ["1.0.{v}-1"] = {{\n         {{\n            arch = "rockspec"\n'
                f'         }},\n         {{\n            arch = "src"\n         }},\n'
                f'         {{\n            arch = "linux-x86_64",\n            modules = {{\n'
                f'               ["package_{p}.core"] = "package_{p}/core.so"\n'
                f"            }}\n         }}\n      }},\n"
            )
        out.append("   },\n")
    out.append("}\n")
    return "".join(out)


def main(argv):
    if len(argv) >= 4 and argv[1] == "rocks":
        out_dir, base_url = argv[2], argv[3].rstrip("/")
        os.makedirs(out_dir, exist_ok=True)
        total = c_total = 0
        for spec in argv[4:]:
            n, c = closure(out_dir, base_url, spec)
            total += n
            c_total += c
        print(f"{total} rocks ({c_total} with C modules) in {out_dir}")
    elif len(argv) in (4, 5) and argv[1] == "shapes":
        out_dir, base_url = argv[2], argv[3].rstrip("/")
        scale = float(argv[4]) if len(argv) == 5 else 1.0
        os.makedirs(out_dir, exist_ok=True)
        for root, c_files, c_rocks in shapes(out_dir, base_url, scale):
            print(f"{root} {c_files} {','.join(c_rocks) or '-'}")
    elif len(argv) == 5 and argv[1] == "manifest":
        out_dir = argv[2]
        os.makedirs(out_dir, exist_ok=True)
        text = big_manifest(int(argv[3]), int(argv[4]))
        with open(os.path.join(out_dir, "manifest"), "w") as f:
            f.write(text)
        print(f"{argv[3]}-package manifest ({len(text) / 1e6:.1f} MB) in {out_dir}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
