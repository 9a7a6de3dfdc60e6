rockspec_format = "3.0"
package = "lvmx-strings"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-strings-1.0.0.tar.gz",
}
description = {
   summary = "String helpers missing from Lua's standard library (lvm example rock)",
   detailed = [[
      split, trim, startswith/endswith, plain replace, padding, a line iterator and
      pattern escaping. Pure Lua, no dependencies.
   ]],
   license = "MIT",
   labels = { "strings", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.strings"] = "src/lvmx/strings.lua",
   },
}
test = {
   type = "command",
   script = "tests/strings_test.lua",
}
