--- lvmx.inspect: readable, deterministic text for any Lua value.
-- Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).
--
-- Tables print as Lua constructors with sorted keys; cycles print as <cycle>;
-- functions, threads and userdata print as <function 1>, numbered in the order
-- they are met, so the output does not depend on memory addresses. (Tables used
-- as keys have no natural order: they come last, in traversal order.)

local M = { _VERSION = "1.0.0" }

local format, concat, sort = string.format, table.concat, table.sort

local keywords = {}
for word in ([[and break do else elseif end false for function goto if in local nil not
   or repeat return then true until while]]):gmatch("%a+") do
   keywords[word] = true
end

local function is_identifier(s)
   return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

local named_escapes = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

--- A string as a Lua literal on one line.
local function quote(s)
   return '"' .. s:gsub('[%c"\\]', function(c)
      return named_escapes[c] or format("\\%03d", c:byte())
   end) .. '"'
end

local type_order = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
   local ta, tb = type(a), type(b)
   if ta ~= tb then
      return (type_order[ta] or 4) < (type_order[tb] or 4) or
         ((type_order[ta] or 4) == (type_order[tb] or 4) and ta < tb)
   end
   if ta == "number" or ta == "string" then
      return a < b
   end
   if ta == "boolean" then
      return (not a) and b
   end
   return false
end

local function new_state(opts)
   return {
      indent = opts.indent or "  ",
      newline = opts.newline or "\n",
      depth = opts.depth or math.huge,
      metatables = opts.metatables ~= false,
      ids = {},
      counts = {},
      path = {},
   }
end

local function reference(state, value)
   local kind = type(value)
   local id = state.ids[value]
   if not id then
      id = (state.counts[kind] or 0) + 1
      state.counts[kind] = id
      state.ids[value] = id
   end
   return format("<%s %d>", kind, id)
end

local render

local function sorted_keys(t)
   local n = #t
   local keys = {}
   for k in pairs(t) do
      -- The sequence part prints first, without keys.
      if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then
         keys[#keys + 1] = k
      end
   end
   sort(keys, key_less)
   return n, keys
end

local function render_table(state, t, level)
   if state.path[t] then
      return "<cycle>"
   end
   if level >= state.depth then
      return "{...}"
   end
   state.path[t] = true
   local n, keys = sorted_keys(t)
   local items = {}
   for i = 1, n do
      items[#items + 1] = render(state, t[i], level + 1)
   end
   for _, k in ipairs(keys) do
      local shown_key
      if is_identifier(k) then
         shown_key = k
      else
         shown_key = "[" .. render(state, k, level + 1) .. "]"
      end
      items[#items + 1] = shown_key .. " = " .. render(state, t[k], level + 1)
   end
   local mt = getmetatable(t)
   if state.metatables and type(mt) == "table" then
      items[#items + 1] = "<metatable> = " .. render(state, mt, level + 1)
   end
   state.path[t] = nil
   if #items == 0 then
      return "{}"
   end
   local nl = state.newline
   if nl == "" then
      return "{ " .. concat(items, ", ") .. " }"
   end
   local inner = state.indent:rep(level + 1)
   return "{" .. nl .. inner .. concat(items, "," .. nl .. inner) .. nl .. state.indent:rep(level) .. "}"
end

render = function(state, value, level)
   local kind = type(value)
   if kind == "string" then
      return quote(value)
   elseif kind == "number" then
      if value ~= value then
         return "0/0"
      elseif value == math.huge then
         return "math.huge"
      elseif value == -math.huge then
         return "-math.huge"
      end
      return tostring(value)
   elseif kind == "table" then
      return render_table(state, value, level)
   elseif kind == "nil" or kind == "boolean" then
      return tostring(value)
   end
   return reference(state, value)
end

--- Renders `value` as text. Options: `indent` (default two spaces), `newline`
-- (default "\n"; "" renders on one line), `depth` (deeper tables print as {...}),
-- `metatables = false` hides metatables.
function M.inspect(value, opts)
   return render(new_state(opts or {}), value, 0)
end

--- Renders `value` on one line.
function M.line(value, opts)
   local o = {}
   for k, v in pairs(opts or {}) do
      o[k] = v
   end
   o.newline = ""
   return M.inspect(value, o)
end

return setmetatable(M, {
   __call = function(_, value, opts)
      return M.inspect(value, opts)
   end,
})
