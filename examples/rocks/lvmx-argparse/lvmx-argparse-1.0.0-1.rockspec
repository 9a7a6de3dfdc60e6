rockspec_format = "3.0"
package = "lvmx-argparse"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-argparse-1.0.0.tar.gz",
}
description = {
   summary = "A small command-line argument parser (lvm example rock)",
   detailed = [[
      Flags, options with defaults, choices and conversions, positional arguments,
      grouped short flags, "--", and generated usage and help text. Pure Lua.
   ]],
   license = "MIT",
   labels = { "cli", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
   "lvmx-strings >= 1.0",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.argparse"] = "src/lvmx/argparse.lua",
   },
}
test = {
   type = "command",
   script = "tests/argparse_test.lua",
}
