-- Tests for lvmx.json; run with the module on package.path:
--   lua tests/json_test.lua
local json = require("lvmx.json")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if actual ~= expected then
      error(("%s: expected %s, got %s"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

local function decode_fails(text, fragment)
   checks = checks + 1
   local value, err = json.decode(text)
   if value ~= nil or not err or not err:find(fragment, 1, true) then
      error(("decoding %q should fail with %q, got %s / %s"):format(
         text, fragment, tostring(value), tostring(err)), 2)
   end
end

local function encode_fails(value, fragment)
   checks = checks + 1
   local ok, err = pcall(json.encode, value)
   if ok or not tostring(err):find(fragment, 1, true) then
      error(("encoding should fail with %q, got %s"):format(fragment, tostring(err)), 2)
   end
end

-- Encoding.
same(json.encode({ b = 1, a = { true, false, json.null } }), '{"a":[true,false,null],"b":1}', "sorted keys")
same(json.encode("tab\there \"q\" \\ \1"), '"tab\\there \\"q\\" \\\\ \\u0001"', "string escapes")
same(json.encode("héllo ☃"), '"héllo ☃"', "UTF-8 passes through")
same(json.encode({}), "{}", "empty table is an object")
same(json.encode(json.array()), "[]", "marked empty array")
same(json.encode(0.1), "0.1", "shortest float")
same(json.encode(1 / 3), "0.3333333333333333", "float round trip digits")
same(json.encode(-12), "-12", "integer")
same(json.encode({ 1, 2, { x = "y" } }, { indent = "  " }),
   '[\n  1,\n  2,\n  {\n    "x": "y"\n  }\n]', "indent")
encode_fails({ [1] = "a", [3] = "c" }, "keys must be strings")
encode_fails({ f = print }, "cannot encode a function at $.f")
encode_fails({ n = 0 / 0 }, "no NaN")
local loop = {}
loop.self = loop
encode_fails(loop, "contains itself")

-- Decoding.
local v = assert(json.decode(' { "name": "lvm", "tags": ["a", "b"], "n": -1.5e2, "ok": true, "none": null } '))
same(v.name, "lvm", "object string")
same(v.tags[2], "b", "array item")
same(v.n, -150, "number with exponent")
same(v.ok, true, "true")
same(v.none, json.null, "null")
same(json.decode('"\\u00e9\\u2603\\ud83d\\ude00\\/"'), "é☃😀/", "unicode escapes and surrogates")
same(json.decode("0"), 0, "zero")
same(json.decode("[]")[1], nil, "empty array")
same(json.encode(json.decode('{"a":[],"b":{}}')), '{"a":[],"b":{}}', "empty containers round trip")
if math.type then
   same(math.type(json.decode("42")), "integer", "integers stay integers")
   same(math.type(json.decode("4.0")), "float", "floats stay floats")
end

decode_fails("", "unexpected end of input at line 1 column 1")
decode_fails('{"a" 1}', "expected ':' after object key at line 1 column 6")
decode_fails('[1,\n 2,]', "unexpected character ']' at line 2 column 4")
decode_fails("[1 2]", "expected ',' or ']'")
decode_fails("01", "invalid number '01'")
decode_fails("1.", "invalid number '1.'")
decode_fails("-", "unexpected character '-'")
decode_fails('"abc', "unterminated string")
decode_fails('"a\nb"', "control character")
decode_fails('"\\x"', "invalid escape \\x")
decode_fails('"\\ud800"', "without a low surrogate")
decode_fails("nul", "unexpected 'nul'")
decode_fails("{} x", "trailing characters")
decode_fails(("["):rep(600), "nesting deeper than 512")
same(select(2, json.decode(42)), "lvmx.json: expected a string to decode, got number", "non-string input")

-- Round trip of a nested document.
local doc = { list = { 1, 2.5, "three", { four = 4 } }, flags = { on = true, off = false }, text = "line\nbreak" }
local again = assert(json.decode(json.encode(doc)))
same(json.encode(again), json.encode(doc), "round trip")

print(("lvmx-json: %d checks passed"):format(checks))
