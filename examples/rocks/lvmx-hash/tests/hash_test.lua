-- Tests for lvmx.hash (FNV-1a reference values); run with the built module on
-- package.cpath:  lua tests/hash_test.lua
local hash = require("lvmx.hash")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if actual ~= expected then
      error(("%s: expected %s, got %s"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

same(hash.hex32(""), "811c9dc5", "32-bit offset basis")
same(hash.hex32("a"), "e40c292c", "32-bit 'a'")
same(hash.hex32("foobar"), "bf9cf968", "32-bit 'foobar'")
same(hash.fnv1a32("foobar"), 0xbf9cf968, "32-bit as a number")
same(hash.hex64(""), "cbf29ce484222325", "64-bit offset basis")
same(hash.hex64("a"), "af63dc4c8601ec8c", "64-bit 'a'")
same(hash.hex64("foobar"), "85944171f73967e8", "64-bit 'foobar'")
same(hash.hex32("a\0b") ~= hash.hex32("a"), true, "embedded zero bytes count")
same(pcall(hash.hex32, {}), false, "non-strings are refused")
same(hash._VERSION, "1.0.0", "version")

print(("lvmx-hash: %d checks passed"):format(checks))
