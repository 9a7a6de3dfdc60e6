-- Tests for lvmx.csv; run with lvmx.csv and lvmx.strings on package.path:
--   lua tests/csv_test.lua
local csv = require("lvmx.csv")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if actual ~= expected then
      error(("%s: expected %s, got %s"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

local function flat(rows)
   local out = {}
   for i, row in ipairs(rows) do
      out[i] = table.concat(row, "|")
   end
   return table.concat(out, "/")
end

same(flat(assert(csv.parse("a,b\n1,2\n"))), "a|b/1|2", "simple")
same(flat(assert(csv.parse("a,b\r\n1,2"))), "a|b/1|2", "CRLF and no final newline")
same(flat(assert(csv.parse('"x, y","say ""hi""",z\n'))), 'x, y|say "hi"|z', "quoted fields")
same(flat(assert(csv.parse('"two\nlines",b\nc,d\n'))), "two\nlines|b/c|d", "line break in quotes")
same(flat(assert(csv.parse("a,,\n"))), "a||", "empty fields")
same(#assert(csv.parse("")), 0, "empty text")
same(flat(assert(csv.parse("a;b\n", { sep = ";" }))), "a|b", "custom separator")
same(flat(assert(csv.parse("a|b\n", { sep = "|" }))), "a|b", "magic character separator")
same(flat(assert(csv.parse(" a , b \n", { trim = true }))), "a|b", "trim")
same(flat(assert(csv.parse('" a ",b\n', { trim = true }))), " a |b", "trim keeps quoted spaces")

local rows, err = csv.parse('a,"b\nc,d\n')
same(rows, nil, "unterminated quote")
same(err, "lvmx.csv: line 1: quoted field is never closed", "unterminated message")
rows, err = csv.parse('ok\nx"y,z\n')
same(err, "lvmx.csv: line 2: quote inside an unquoted field (quote the whole field)", "stray quote")
rows, err = csv.parse('"a"b\n')
same(err, 'lvmx.csv: line 1: unexpected "b" after a quoted field', "text after quote")
same(pcall(csv.parse, "a", { sep = "ab" }), false, "bad separator")

local records, header = assert(csv.records("name,version\nlvmx-csv,1.0.0\nlvmx-json,1.0.0\n"))
same(#records, 2, "records")
same(records[2].name, "lvmx-json", "record field")
same(table.concat(header, ","), "name,version", "header")
same(select(2, csv.records("a,b\n1\n")), "lvmx.csv: row 2 has 1 fields, the header has 2", "ragged row")

same(csv.format({ { "a", "b, c" }, { 'q"', 1 }, { " pad", "x\ny" } }),
   'a,"b, c"\n"q""",1\n" pad","x\ny"\n', "format quotes what needs it")
same(csv.format({ { "a", "b" } }, { sep = "\t", eol = "\r\n" }), "a\tb\r\n", "format options")

local text = 'id,note\n1,"multi\nline"\n2,"with ""quotes"""\n'
same(csv.format(assert(csv.parse(text))), text, "round trip")

print(("lvmx-csv: %d checks passed"):format(checks))
