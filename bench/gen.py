#!/usr/bin/env python3
"""Workload generators for bench/run.sh.

  gen.py rocks DIR BASE_URL NAME:MIDS:LEAVES:CMODS [...]
      Writes a rocks server into DIR: for each closure NAME, a root rock NAME depending on MIDS
      rocks NAME-mNN, each depending on LEAVES rocks NAME-lNN-M. CMODS of the leaves are C
      modules (builtin build of one tiny C file); the rest are pure Lua. Every rock gets a
      rockspec whose source.url is BASE_URL/NAME-VERSION.tar.gz and that deterministic
      .tar.gz. The server manifest is left to `luarocks-admin make-manifest`.

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

int luaopen_{mod}(lua_State *L) {{
    static const luaL_Reg functions[] = {{
        {{"weight", weight}},
        {{"add", add}},
        {{NULL, NULL}},
    }};
#if LUA_VERSION_NUM >= 502
    luaL_newlib(L, functions);
#else
    lua_newtable(L);
    luaL_register(L, NULL, functions);
#endif
    lua_pushliteral(L, "{package}");
    lua_setfield(L, -2, "name");
    return 1;
}}
"""


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


def write_rock(out_dir, base_url, package, deps, is_c):
    mod = module_name(package)
    if is_c:
        files = {f"src/{mod}.c": c_source(package)}
    else:
        files = {f"src/{mod}.lua": lua_source(package, deps)}
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
