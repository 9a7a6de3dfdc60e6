--- lvmx.json: a small, strict JSON encoder and decoder (RFC 8259).
-- Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).
--
-- Values map as follows: objects <-> tables with string keys, arrays <-> sequences,
-- null <-> json.null, numbers <-> numbers (integers stay integers on Lua 5.3+).
-- Decoded arrays and objects carry a marker metatable so that empty ones encode back
-- as they came ([] or {}); json.array{} and json.object{} set the marker by hand.

local M = { _VERSION = "1.0.0" }

local byte, char, find, format, sub = string.byte, string.char, string.find, string.format, string.sub
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge
local math_type = math.type -- nil on Lua 5.1 and 5.2

--- The JSON null value (Lua's nil cannot be stored in a table).
M.null = setmetatable({}, {
   __tostring = function()
      return "null"
   end,
})

local array_mt = { __jsontype = "array" }
local object_mt = { __jsontype = "object" }

--- Marks `t` as a JSON array (so an empty table encodes as []). Returns `t`.
function M.array(t)
   return setmetatable(t or {}, array_mt)
end

--- Marks `t` as a JSON object (so an empty table encodes as {}). Returns `t`.
function M.object(t)
   return setmetatable(t or {}, object_mt)
end

-- Encoding --------------------------------------------------------------------

local escapes = {
   ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
   ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape_char(c)
   return escapes[c] or format("\\u%04x", byte(c))
end

local function encode_string(s)
   return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local function encode_number(x, path)
   if x ~= x or x == huge or x == -huge then
      error(format("lvmx.json: cannot encode %s at %s (JSON has no NaN or infinity)", tostring(x), path), 0)
   end
   if math_type and math_type(x) == "integer" then
      return format("%d", x)
   end
   if not math_type and x == floor(x) and x > -2^53 and x < 2^53 then
      return format("%d", x)
   end
   -- The shortest representation that reads back as the same number.
   for digits = 15, 17 do
      local s = format("%." .. digits .. "g", x)
      if tonumber(s) == x then
         return s
      end
   end
   return format("%.17g", x)
end

local function kind_of(t)
   local mt = getmetatable(t)
   if mt == array_mt or mt == object_mt then
      return mt.__jsontype
   end
   local n = #t
   local count = 0
   for k in pairs(t) do
      count = count + 1
      if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then
         return "object"
      end
   end
   if count == 0 then
      return "object"
   end
   return count == n and "array" or "object"
end

local encode_value

local function encode_table(t, path, opts, depth, seen)
   if seen[t] then
      error(format("lvmx.json: cannot encode a table that contains itself (at %s)", path), 0)
   end
   seen[t] = true
   local indent = opts.indent
   local newline, pad, inner = "", "", ""
   if indent then
      newline = "\n"
      pad = indent:rep(depth)
      inner = indent:rep(depth + 1)
   end
   local items = {}
   local open, close
   if kind_of(t) == "array" then
      open, close = "[", "]"
      for i = 1, #t do
         items[i] = inner .. encode_value(t[i], path .. "[" .. i .. "]", opts, depth + 1, seen)
      end
   else
      open, close = "{", "}"
      local keys = {}
      for k in pairs(t) do
         if type(k) ~= "string" then
            error(format("lvmx.json: cannot encode a %s key at %s (object keys must be strings)", type(k), path), 0)
         end
         keys[#keys + 1] = k
      end
      -- Sorted keys make the output deterministic.
      sort(keys)
      local colon = indent and ": " or ":"
      for i, k in ipairs(keys) do
         items[i] = inner .. encode_string(k) .. colon
            .. encode_value(t[k], path .. "." .. k, opts, depth + 1, seen)
      end
   end
   seen[t] = nil
   if #items == 0 then
      return open .. close
   end
   return open .. newline .. concat(items, "," .. newline) .. newline .. pad .. close
end

encode_value = function(value, path, opts, depth, seen)
   local t = type(value)
   if value == M.null or value == nil then
      return "null"
   elseif t == "boolean" then
      return value and "true" or "false"
   elseif t == "number" then
      return encode_number(value, path)
   elseif t == "string" then
      return encode_string(value)
   elseif t == "table" then
      return encode_table(value, path, opts, depth, seen)
   end
   error(format("lvmx.json: cannot encode a %s at %s", t, path), 0)
end

--- Encodes `value` as JSON text. Options: `indent` (a string such as "  ") pretty-prints.
-- Object keys are sorted. Raises an error naming the path of a value JSON cannot hold.
function M.encode(value, opts)
   return encode_value(value, "$", opts or {}, 0, {})
end

-- Decoding --------------------------------------------------------------------

local function position(text, pos)
   local line, col = 1, 1
   for i = 1, pos - 1 do
      if byte(text, i) == 10 then
         line, col = line + 1, 1
      else
         col = col + 1
      end
   end
   return format("line %d column %d", line, col)
end

local function fail(text, pos, message)
   error({ lvmx_json = format("lvmx.json: %s at %s", message, position(text, pos)) }, 0)
end

local function skip_space(text, pos)
   return (find(text, "[^ \t\r\n]", pos)) or #text + 1
end

local function utf8_encode(cp)
   if cp < 0x80 then
      return char(cp)
   elseif cp < 0x800 then
      return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
   elseif cp < 0x10000 then
      return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
   end
   return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
      0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local simple_escapes = {
   ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

local function decode_string(text, pos)
   -- `pos` is at the opening quote.
   local parts = {}
   local i = pos + 1
   while true do
      local stop = find(text, '["\\%c]', i)
      if not stop then
         fail(text, pos, "unterminated string")
      end
      parts[#parts + 1] = sub(text, i, stop - 1)
      local c = sub(text, stop, stop)
      if c == '"' then
         return concat(parts), stop + 1
      elseif c ~= "\\" then
         fail(text, stop, "control character in string (escape it)")
      end
      local e = sub(text, stop + 1, stop + 1)
      if simple_escapes[e] then
         parts[#parts + 1] = simple_escapes[e]
         i = stop + 2
      elseif e == "u" then
         local hex = text:match("^%x%x%x%x", stop + 2)
         if not hex then
            fail(text, stop, "invalid \\u escape (expected 4 hex digits)")
         end
         local cp = tonumber(hex, 16)
         i = stop + 6
         if cp >= 0xD800 and cp <= 0xDBFF then
            local low = text:match("^\\u(%x%x%x%x)", i)
            local lo = low and tonumber(low, 16)
            if not lo or lo < 0xDC00 or lo > 0xDFFF then
               fail(text, stop, "high surrogate \\u" .. hex .. " without a low surrogate")
            end
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            i = i + 6
         elseif cp >= 0xDC00 and cp <= 0xDFFF then
            fail(text, stop, "lone low surrogate \\u" .. hex)
         end
         parts[#parts + 1] = utf8_encode(cp)
      else
         fail(text, stop, "invalid escape \\" .. e)
      end
   end
end

local decode_value

local function decode_array(text, pos, depth)
   local result = M.array({})
   local n = 0
   pos = skip_space(text, pos + 1)
   if sub(text, pos, pos) == "]" then
      return result, pos + 1
   end
   while true do
      local value
      value, pos = decode_value(text, pos, depth + 1)
      n = n + 1
      result[n] = value
      pos = skip_space(text, pos)
      local c = sub(text, pos, pos)
      if c == "]" then
         return result, pos + 1
      elseif c ~= "," then
         fail(text, pos, "expected ',' or ']' in array")
      end
      pos = skip_space(text, pos + 1)
   end
end

local function decode_object(text, pos, depth)
   local result = M.object({})
   pos = skip_space(text, pos + 1)
   if sub(text, pos, pos) == "}" then
      return result, pos + 1
   end
   while true do
      if sub(text, pos, pos) ~= '"' then
         fail(text, pos, "expected a string key in object")
      end
      local key
      key, pos = decode_string(text, pos)
      pos = skip_space(text, pos)
      if sub(text, pos, pos) ~= ":" then
         fail(text, pos, "expected ':' after object key")
      end
      local value
      value, pos = decode_value(text, skip_space(text, pos + 1), depth + 1)
      result[key] = value
      pos = skip_space(text, pos)
      local c = sub(text, pos, pos)
      if c == "}" then
         return result, pos + 1
      elseif c ~= "," then
         fail(text, pos, "expected ',' or '}' in object")
      end
      pos = skip_space(text, pos + 1)
   end
end

local literals = { ["true"] = true, ["false"] = false }

local MAX_DEPTH = 512

decode_value = function(text, pos, depth)
   if depth > MAX_DEPTH then
      fail(text, pos, "nesting deeper than " .. MAX_DEPTH)
   end
   local c = sub(text, pos, pos)
   if c == "{" then
      return decode_object(text, pos, depth)
   elseif c == "[" then
      return decode_array(text, pos, depth)
   elseif c == '"' then
      return decode_string(text, pos)
   elseif c == "" then
      fail(text, pos, "unexpected end of input")
   end
   local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
   if number then
      -- The loose pattern above finds the token; this checks JSON's exact number grammar.
      local strict = number:match("^-?0[%.eE]") or number:match("^-?0$") or number:match("^-?[1-9]")
      local exact = number:match("^-?%d+$") or number:match("^-?%d+%.%d+$")
         or number:match("^-?%d+[eE][-+]?%d+$") or number:match("^-?%d+%.%d+[eE][-+]?%d+$")
      local value = tonumber(number)
      if not strict or not exact or not value then
         fail(text, pos, "invalid number '" .. number .. "'")
      end
      return value, pos + #number
   end
   local word = text:match("^%a+", pos)
   if word == "null" then
      return M.null, pos + 4
   elseif word and literals[word] ~= nil then
      return literals[word], pos + #word
   end
   fail(text, pos, "unexpected " .. (word and ("'" .. word .. "'") or ("character '" .. c .. "'")))
end

--- Decodes JSON text. Returns the value, or nil and a message naming the line and column
-- of the first problem.
function M.decode(text)
   if type(text) ~= "string" then
      return nil, "lvmx.json: expected a string to decode, got " .. type(text)
   end
   local ok, value, pos = pcall(function()
      local v, p = decode_value(text, skip_space(text, 1), 1)
      p = skip_space(text, p)
      if p <= #text then
         fail(text, p, "trailing characters after the JSON value")
      end
      return v, p
   end)
   if ok then
      return value
   end
   if type(value) == "table" and value.lvmx_json then
      return nil, value.lvmx_json
   end
   error(value, 0)
end

return M
