--- lvmx.argparse: a small command-line argument parser.
-- Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).
--
--   local argparse = require("lvmx.argparse")
--   local p = argparse.new("greet", "Print a greeting.")
--   p:flag("-v --verbose", "Say more.")
--   p:option("-n --name", "Who to greet.", { default = "world" })
--   p:argument("words", "Extra words.", { multiple = true, optional = true })
--   local args, message, code = p:parse(arg)
--   if not args then io.stderr:write(message, "\n") os.exit(code) end
--
-- Understands --name=value, --name value, -n value, -nvalue, grouped short flags
-- (-vq), "--" to end options, and -h/--help.

local strings = require("lvmx.strings")

local M = { _VERSION = "1.0.0" }

local Parser = {}
Parser.__index = Parser

--- A new parser for the program `name`, with a one-line `description`.
function M.new(name, description)
   return setmetatable({
      name = name,
      description = description,
      options = {},   -- flags and options, in declaration order
      by_name = {},   -- "-v" / "--verbose" -> option
      arguments = {}, -- positional arguments, in order
   }, Parser)
end

-- "--dry-run" -> "dry_run": the key of an option in the parsed result.
local function key_of(long)
   return (long:gsub("^%-%-", ""):gsub("-", "_"))
end

function Parser:_add(kind, names, help, opts)
   opts = opts or {}
   local option = { kind = kind, names = strings.split(names), help = help or "", opts = opts }
   for _, n in ipairs(option.names) do
      if not n:match("^%-%a$") and not n:match("^%-%-%a[%w-]*$") then
         error(("lvmx.argparse: invalid option name '%s' (use -x or --long-name)"):format(n), 3)
      end
      if self.by_name[n] then
         error(("lvmx.argparse: option '%s' is declared twice"):format(n), 3)
      end
      self.by_name[n] = option
      if strings.startswith(n, "--") then
         option.key = option.key or key_of(n)
      end
   end
   option.key = opts.key or option.key or option.names[1]:sub(2)
   self.options[#self.options + 1] = option
   return self
end

--- Declares a flag (no value): the result holds true when given, false otherwise.
function Parser:flag(names, help)
   return self:_add("flag", names, help)
end

--- Declares an option with a value. Options: `default`, `multiple = true` (collect
-- every occurrence in a list), `choices = { ... }`, `convert = tonumber` (or any
-- function returning the value, or nil and a message).
function Parser:option(names, help, opts)
   return self:_add("option", names, help, opts)
end

--- Declares a positional argument. Options: `optional = true`, `multiple = true`
-- (take all remaining arguments; only the last argument may), `default`.
function Parser:argument(name, help, opts)
   opts = opts or {}
   local last = self.arguments[#self.arguments]
   if last and last.opts.multiple then
      error("lvmx.argparse: no argument may follow one with multiple = true", 2)
   end
   self.arguments[#self.arguments + 1] = { name = name, key = (name:gsub("-", "_")), help = help or "", opts = opts }
   return self
end

local function placeholder(option)
   return "<" .. option.key .. ">"
end

--- The one-line usage text.
function Parser:usage()
   local parts = { "Usage: " .. self.name }
   for _, o in ipairs(self.options) do
      local text = o.names[1]
      if o.kind == "option" then
         text = text .. " " .. placeholder(o)
      end
      parts[#parts + 1] = "[" .. text .. "]"
   end
   for _, a in ipairs(self.arguments) do
      local text = "<" .. a.name .. ">" .. (a.opts.multiple and "..." or "")
      parts[#parts + 1] = (a.opts.optional or a.opts.default ~= nil) and ("[" .. text .. "]") or text
   end
   return table.concat(parts, " ")
end

--- The full help text.
function Parser:help()
   local rows = {}
   for _, a in ipairs(self.arguments) do
      rows[#rows + 1] = { "<" .. a.name .. ">", a.help }
   end
   rows[#rows + 1] = { "-h, --help", "Show this help and exit." }
   for _, o in ipairs(self.options) do
      local names = table.concat(o.names, ", ")
      if o.kind == "option" then
         names = names .. " " .. placeholder(o)
      end
      local help = o.help
      if o.opts.default ~= nil then
         help = help .. " (default: " .. tostring(o.opts.default) .. ")"
      end
      rows[#rows + 1] = { names, help }
   end
   local width = 0
   for _, r in ipairs(rows) do
      width = math.max(width, #r[1])
   end
   local lines = { self:usage(), "" }
   if self.description then
      lines[#lines + 1] = self.description
      lines[#lines + 1] = ""
   end
   for _, r in ipairs(rows) do
      lines[#lines + 1] = "  " .. strings.pad_right(r[1], width) .. "  " .. r[2]
   end
   return table.concat(lines, "\n")
end

local function set_value(result, option, value)
   local convert = option.opts.convert
   if convert then
      local converted, why = convert(value)
      if converted == nil then
         return ("invalid value '%s' for %s%s"):format(value, option.names[1], why and (": " .. why) or "")
      end
      value = converted
   end
   local choices = option.opts.choices
   if choices then
      local ok = false
      for _, c in ipairs(choices) do
         ok = ok or c == value
      end
      if not ok then
         return ("invalid value '%s' for %s (choose from %s)"):format(
            tostring(value), option.names[1], table.concat(choices, ", "))
      end
   end
   if option.opts.multiple then
      local list = result[option.key]
      list[#list + 1] = value
   else
      result[option.key] = value
   end
end

--- Parses a list of strings (typically the global `arg`). Returns a table keyed by
-- long option name (dashes become underscores) and argument name; or nil, a message
-- and an exit code: the help text and 0 for -h/--help, the error and usage and 2 for
-- a bad command line.
function Parser:parse(argv)
   local result, positionals = {}, {}
   for _, o in ipairs(self.options) do
      if o.kind == "flag" then
         result[o.key] = false
      elseif o.opts.multiple then
         result[o.key] = {}
      else
         result[o.key] = o.opts.default
      end
   end
   local function usage_error(message)
      return nil, ("%s: %s\n%s"):format(self.name, message, self:usage()), 2
   end
   local i, only_positionals = 1, false
   while i <= #argv do
      local a = argv[i]
      if only_positionals or a == "-" or not strings.startswith(a, "-") then
         positionals[#positionals + 1] = a
      elseif a == "--" then
         only_positionals = true
      elseif a == "-h" or a == "--help" then
         return nil, self:help(), 0
      elseif strings.startswith(a, "--") then
         local name, value = a:match("^(%-%-[^=]+)=(.*)$")
         name = name or a
         local option = self.by_name[name]
         if not option then
            return usage_error("unknown option '" .. name .. "'")
         end
         if option.kind == "flag" then
            if value then
               return usage_error("option '" .. name .. "' takes no value")
            end
            result[option.key] = true
         else
            if not value then
               i = i + 1
               value = argv[i]
               if value == nil then
                  return usage_error("option '" .. name .. "' needs a value")
               end
            end
            local err = set_value(result, option, value)
            if err then
               return usage_error(err)
            end
         end
      else
         -- One or more short options: -v, -vq, -n value, -nvalue, -vn value.
         local j = 2
         while j <= #a do
            local name = "-" .. a:sub(j, j)
            local option = self.by_name[name]
            if not option then
               return usage_error("unknown option '" .. name .. "'")
            end
            if option.kind == "flag" then
               result[option.key] = true
               j = j + 1
            else
               local value = a:sub(j + 1)
               if value == "" then
                  i = i + 1
                  value = argv[i]
                  if value == nil then
                     return usage_error("option '" .. name .. "' needs a value")
                  end
               end
               local err = set_value(result, option, value)
               if err then
                  return usage_error(err)
               end
               break
            end
         end
      end
      i = i + 1
   end
   local p = 1
   for _, arg_spec in ipairs(self.arguments) do
      if arg_spec.opts.multiple then
         local rest = {}
         for k = p, #positionals do
            rest[#rest + 1] = positionals[k]
         end
         p = #positionals + 1
         if #rest == 0 and not arg_spec.opts.optional then
            return usage_error("missing argument <" .. arg_spec.name .. ">")
         end
         result[arg_spec.key] = rest
      elseif positionals[p] ~= nil then
         result[arg_spec.key] = positionals[p]
         p = p + 1
      elseif arg_spec.opts.optional or arg_spec.opts.default ~= nil then
         result[arg_spec.key] = arg_spec.opts.default
      else
         return usage_error("missing argument <" .. arg_spec.name .. ">")
      end
   end
   if positionals[p] ~= nil then
      return usage_error("unexpected argument '" .. positionals[p] .. "'")
   end
   return result
end

return M
