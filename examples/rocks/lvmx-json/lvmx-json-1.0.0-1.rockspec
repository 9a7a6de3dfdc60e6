rockspec_format = "3.0"
package = "lvmx-json"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-json-1.0.0.tar.gz",
}
description = {
   summary = "A small, strict JSON encoder and decoder (lvm example rock)",
   detailed = [[
      Encodes Lua values as JSON with sorted keys and decodes JSON text with error
      messages that name the line and column. Pure Lua, no dependencies.
   ]],
   license = "MIT",
   labels = { "json", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.json"] = "src/lvmx/json.lua",
   },
}
test = {
   type = "command",
   script = "tests/json_test.lua",
}
