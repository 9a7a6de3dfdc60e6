rockspec_format = "3.0"
package = "lvmx-inspect"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-inspect-1.0.0.tar.gz",
}
description = {
   summary = "Readable, deterministic text for any Lua value (lvm example rock)",
   detailed = [[
      Pretty-prints tables as Lua constructors with sorted keys, marks cycles and
      numbers functions instead of showing addresses. Pure Lua, no dependencies.
   ]],
   license = "MIT",
   labels = { "debug", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.inspect"] = "src/lvmx/inspect.lua",
   },
}
test = {
   type = "command",
   script = "tests/inspect_test.lua",
}
