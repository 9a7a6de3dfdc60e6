-- Tests for lvmx.inspect; run with the module on package.path:
--   lua tests/inspect_test.lua
local inspect = require("lvmx.inspect")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if actual ~= expected then
      error(("%s:\nexpected:\n%s\ngot:\n%s"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

same(inspect(nil), "nil", "nil")
same(inspect(true), "true", "boolean")
same(inspect(42), "42", "integer")
same(inspect(0 / 0), "0/0", "nan")
same(inspect(-math.huge), "-math.huge", "infinity")
same(inspect('say "hi"\n\1'), '"say \\"hi\\"\\n\\001"', "quoted string")
same(inspect({}), "{}", "empty table")
same(inspect.line({ 1, 2, 3 }), "{ 1, 2, 3 }", "sequence")
same(inspect.line({ b = 1, a = 2, [10] = "x", ["not id"] = true, ["end"] = 0 }),
   '{ [10] = "x", a = 2, b = 1, ["end"] = 0, ["not id"] = true }', "sorted keys, quoted when needed")
same(inspect({ "a", { x = 1 } }), '{\n  "a",\n  {\n    x = 1\n  }\n}', "nested, indented")
same(inspect({ list = { 1 } }, { indent = "\t" }), "{\n\tlist = {\n\t\t1\n\t}\n}", "custom indent")
same(inspect.line({ a = { b = { c = {} } } }, { depth = 2 }), "{ a = { b = {...} } }", "depth limit")

local t = { name = "loop" }
t.self = t
same(inspect.line(t), '{ name = "loop", self = <cycle> }', "cycle")

local shared = { 1 }
same(inspect.line({ shared, shared }), "{ { 1 }, { 1 } }", "shared tables are not cycles")

local f, g = function() end, function() end
same(inspect.line({ f, g, f }), "{ <function 1>, <function 2>, <function 1> }", "stable function ids")

local obj = setmetatable({ x = 1 }, { __index = {} })
same(inspect.line(obj), "{ x = 1, <metatable> = { __index = {} } }", "metatable shown")
same(inspect.line(obj, { metatables = false }), "{ x = 1 }", "metatable hidden")

same(inspect.line({ [true] = 1, [false] = 0, [2.5] = "f", z = "s" }),
   '{ [2.5] = "f", z = "s", [false] = 0, [true] = 1 }', "mixed key types in a fixed order")

print(("lvmx-inspect: %d checks passed"):format(checks))
