rockspec_format = "3.0"
package = "lvmx-csv"
version = "1.0.0-1"
source = {
   url = "https://lvm.invalid/examples/lvmx-csv-1.0.0.tar.gz",
}
description = {
   summary = "Read and write CSV files (lvm example rock)",
   detailed = [[
      RFC 4180 CSV: quoted fields, doubled quotes, separators and line breaks inside
      quotes, header records, and errors that name the line. Pure Lua.
   ]],
   license = "MIT",
   labels = { "csv", "lvm-example" },
}
dependencies = {
   "lua >= 5.1",
   "lvmx-strings >= 1.0",
}
build = {
   type = "builtin",
   modules = {
      ["lvmx.csv"] = "src/lvmx/csv.lua",
   },
}
test = {
   type = "command",
   script = "tests/csv_test.lua",
}
