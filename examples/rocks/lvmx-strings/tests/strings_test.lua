-- Tests for lvmx.strings; run with the module on package.path:
--   lua tests/strings_test.lua
local s = require("lvmx.strings")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if type(expected) == "table" then
      local ok = type(actual) == "table" and #actual == #expected
      for i = 1, #expected do
         ok = ok and actual[i] == expected[i]
      end
      if not ok then
         local shown = type(actual) == "table" and table.concat(actual, "|") or tostring(actual)
         error(("%s: expected %s, got %s"):format(what, table.concat(expected, "|"), shown), 2)
      end
   elseif actual ~= expected then
      error(("%s: expected %q, got %q"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

same(s.trim("  a b \t\n"), "a b", "trim")
same(s.trim("   "), "", "trim blank")
same(s.trim(""), "", "trim empty")
same(s.ltrim("  a  "), "a  ", "ltrim")
same(s.rtrim("  a  "), "  a", "rtrim")
same(s.trim((" "):rep(100000) .. "x"), "x", "trim long run")

same(s.split("a,b,,c", ","), { "a", "b", "", "c" }, "split keeps empties")
same(s.split(",", ","), { "", "" }, "split only separator")
same(s.split("abc", ","), { "abc" }, "split without separator")
same(s.split("a.b.c", "."), { "a", "b", "c" }, "split is plain by default")
same(s.split("a1b22c", "%d+", { pattern = true }), { "a", "b", "c" }, "split pattern")
same(s.split("k=v=w", "=", { max = 1 }), { "k", "v=w" }, "split max")
same(s.split("  one two\tthree\n"), { "one", "two", "three" }, "split whitespace")
same(s.split("   "), {}, "split whitespace blank")
same(s.split("cmd a  b ", nil, { max = 1 }), { "cmd", "a  b " }, "split whitespace max")
same(select(2, pcall(s.split, "x", "")):match("must not be empty") ~= nil, true, "split empty sep")

same(s.startswith("lvmx-json", "lvmx-"), true, "startswith")
same(s.startswith("lv", "lvmx"), false, "startswith longer prefix")
same(s.startswith("abc", ""), true, "startswith empty")
same(s.endswith("init.lua", ".lua"), true, "endswith")
same(s.endswith("init.lua", ".luac"), false, "endswith no")
same(s.endswith("abc", ""), true, "endswith empty")

same(s.replace("a.b.c", ".", "%"), "a%b%c", "replace is plain")
same(select(2, s.replace("xxx", "x", "y", 2)), 2, "replace count")
same(s.escape_pattern("1+1=2?"), "1%+1=2%?", "escape_pattern")
same(("1+1"):find(s.escape_pattern("+")), 2, "escaped pattern finds itself")

same(s.pad_left("7", 3, "0"), "007", "pad_left")
same(s.pad_right("ab", 4), "ab  ", "pad_right")
same(s.pad_left("long", 2), "long", "pad_left never truncates")

local lines = {}
for line in s.lines("one\r\ntwo\n\nfour") do
   lines[#lines + 1] = line
end
same(lines, { "one", "two", "", "four" }, "lines")
lines = {}
for line in s.lines("end\n") do
   lines[#lines + 1] = line
end
same(lines, { "end" }, "lines trailing newline")

local ok, err = pcall(s.trim, 42)
same(ok, false, "trim rejects numbers")
same(err:match("string expected, got number") ~= nil, true, "argument error message")

print(("lvmx-strings: %d checks passed"):format(checks))
