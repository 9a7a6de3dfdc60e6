--- lvmx.strings: string helpers missing from Lua's standard library.
-- Every function takes the subject string first, so they also work as
-- `local s = require("lvmx.strings"); s.split(text, ",")`.
-- Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).

local M = { _VERSION = "1.0.0" }

local function check_string(value, position, fname)
   if type(value) ~= "string" then
      error(("bad argument #%d to '%s' (string expected, got %s)"):format(
         position, fname, type(value)), 3)
   end
end

--- Escapes the magic characters of Lua patterns, so `s` matches itself.
function M.escape_pattern(s)
   check_string(s, 1, "escape_pattern")
   return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

--- Removes leading and trailing whitespace.
function M.trim(s)
   check_string(s, 1, "trim")
   -- Anchoring on the last non-space character keeps this linear on long blank runs.
   return s:match("^%s*(.*%S)") or ""
end

--- Removes leading whitespace.
function M.ltrim(s)
   check_string(s, 1, "ltrim")
   return (s:gsub("^%s+", ""))
end

--- Removes trailing whitespace.
function M.rtrim(s)
   check_string(s, 1, "rtrim")
   return s:match("^(.*%S)") or ""
end

--- True when `s` begins with `prefix`.
function M.startswith(s, prefix)
   check_string(s, 1, "startswith")
   check_string(prefix, 2, "startswith")
   return s:sub(1, #prefix) == prefix
end

--- True when `s` ends with `suffix`.
function M.endswith(s, suffix)
   check_string(s, 1, "endswith")
   check_string(suffix, 2, "endswith")
   return suffix == "" or s:sub(-#suffix) == suffix
end

--- Splits `s` into a list.
-- Without `sep`, splits on runs of whitespace and drops empty pieces.
-- With `sep`, splits on every occurrence of that plain string and keeps empty
-- pieces ("a,,b" gives "a", "", "b"). Options: `pattern = true` treats `sep` as a
-- Lua pattern; `max = n` splits at most n times (the rest stays in the last
-- piece, as in Python's str.split).
function M.split(s, sep, opts)
   check_string(s, 1, "split")
   opts = opts or {}
   local max = opts.max or math.huge
   local parts = {}
   if sep == nil then
      local pos = 1
      while true do
         local first, last = s:find("%S+", pos)
         if not first then
            break
         end
         if #parts == max then
            -- No splits left: the rest, from this word on, is the last piece.
            parts[#parts + 1] = s:sub(first)
            break
         end
         parts[#parts + 1] = s:sub(first, last)
         pos = last + 1
      end
      return parts
   end
   check_string(sep, 2, "split")
   if sep == "" then
      error("bad argument #2 to 'split' (separator must not be empty)", 2)
   end
   local plain = not opts.pattern
   local start = 1
   while #parts < max do
      local first, last = s:find(sep, start, plain)
      if not first then
         break
      end
      if last < first then
         error("bad argument #2 to 'split' (pattern matches the empty string)", 2)
      end
      parts[#parts + 1] = s:sub(start, first - 1)
      start = last + 1
   end
   parts[#parts + 1] = s:sub(start)
   return parts
end

--- Replaces every occurrence of the plain string `old` with `new` (at most `n`
-- times when given). Returns the new string and the number of replacements.
function M.replace(s, old, new, n)
   check_string(s, 1, "replace")
   check_string(old, 2, "replace")
   check_string(new, 3, "replace")
   if old == "" then
      error("bad argument #2 to 'replace' (cannot replace the empty string)", 2)
   end
   return s:gsub(M.escape_pattern(old), (new:gsub("%%", "%%%%")), n)
end

--- Pads `s` on the left to `width` characters with `char` (default: space).
function M.pad_left(s, width, char)
   check_string(s, 1, "pad_left")
   char = char or " "
   return char:rep(width - #s) .. s
end

--- Pads `s` on the right to `width` characters with `char` (default: space).
function M.pad_right(s, width, char)
   check_string(s, 1, "pad_right")
   char = char or " "
   return s .. char:rep(width - #s)
end

--- Iterates over the lines of `s` ("\n" or "\r\n" endings; a final line without
-- an ending counts, a trailing ending does not start an empty line).
function M.lines(s)
   check_string(s, 1, "lines")
   local pos = 1
   return function()
      if pos > #s then
         return nil
      end
      local first, last = s:find("\r?\n", pos)
      local line
      if first then
         line = s:sub(pos, first - 1)
         pos = last + 1
      else
         line = s:sub(pos)
         pos = #s + 1
      end
      return line
   end
end

return M
