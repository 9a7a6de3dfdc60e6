rockspec_format = "3.0"
package = "lvmx-hash"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-hash-1.0.0.tar.gz",
}
description = {
   summary = "FNV-1a string hashes, a C module (lvm example rock)",
   detailed = [[
      32- and 64-bit FNV-1a hashes of Lua strings, as numbers or hex digits. A small C
      module built with the builtin back-end; needs a C compiler.
   ]],
   license = "MIT",
   labels = { "hash", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.hash"] = "src/hash.c",
   },
}
test = {
   type = "command",
   script = "tests/hash_test.lua",
}
