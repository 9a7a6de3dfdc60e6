--- lvmx.csv: reading and writing CSV (RFC 4180): quoted fields, doubled quotes,
-- separators and line breaks inside quotes, "\n" or "\r\n" line endings.
-- Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).

local strings = require("lvmx.strings")

local M = { _VERSION = "1.0.0" }

local format, sub, find = string.format, string.sub, string.find

local function check_sep(sep)
   if type(sep) ~= "string" or #sep ~= 1 or sep == '"' or sep == "\r" or sep == "\n" then
      error(format("lvmx.csv: the separator must be one character other than a quote or line break (got %q)",
         tostring(sep)), 3)
   end
end

--- Parses CSV text into a list of rows, each a list of strings.
-- Options: `sep` (default ","), `trim = true` trims spaces around unquoted fields.
-- Returns the rows, or nil and a message naming the line of the problem.
function M.parse(text, opts)
   opts = opts or {}
   local sep = opts.sep or ","
   check_sep(sep)
   local special = "[" .. strings.escape_pattern(sep) .. '"\r\n]'
   local rows, row = {}, {}
   local pos, line, len = 1, 1, #text
   local function finish_field(value, quoted)
      if opts.trim and not quoted then
         value = strings.trim(value)
      end
      row[#row + 1] = value
   end
   if len == 0 then
      return rows
   end
   while true do
      local quoted = false
      local value
      if sub(text, pos, pos) == '"' then
         -- A quoted field runs to the next quote that is not doubled.
         quoted = true
         local parts, start_line = {}, line
         local i = pos + 1
         while true do
            local q = find(text, '"', i, true)
            if not q then
               return nil, format("lvmx.csv: line %d: quoted field is never closed", start_line)
            end
            local piece = sub(text, i, q - 1)
            local _, breaks = piece:gsub("\n", "")
            line = line + breaks
            parts[#parts + 1] = piece
            if sub(text, q + 1, q + 1) == '"' then
               parts[#parts + 1] = '"'
               i = q + 2
            else
               pos = q + 1
               break
            end
         end
         value = table.concat(parts)
         local after = sub(text, pos, pos)
         if after ~= "" and after ~= sep and after ~= "\r" and after ~= "\n" then
            return nil, format("lvmx.csv: line %d: unexpected %q after a quoted field", line, after)
         end
      else
         local stop = find(text, special, pos) or len + 1
         value = sub(text, pos, stop - 1)
         if sub(text, stop, stop) == '"' then
            return nil, format("lvmx.csv: line %d: quote inside an unquoted field (quote the whole field)", line)
         end
         pos = stop
      end
      finish_field(value, quoted)
      local c = sub(text, pos, pos)
      if c == sep then
         pos = pos + 1
      else
         -- End of record: a line break or the end of the text.
         rows[#rows + 1] = row
         row = {}
         if c == "\r" and sub(text, pos + 1, pos + 1) == "\n" then
            pos = pos + 2
         elseif c == "\r" or c == "\n" then
            pos = pos + 1
         end
         line = line + 1
         if pos > len then
            return rows
         end
      end
   end
end

--- Parses CSV whose first row names the columns. Returns a list of records (tables
-- keyed by column name) and the list of column names, or nil and a message.
function M.records(text, opts)
   local rows, err = M.parse(text, opts)
   if not rows then
      return nil, err
   end
   local header = rows[1] or {}
   local records = {}
   for i = 2, #rows do
      local row = rows[i]
      if #row ~= #header then
         return nil, format("lvmx.csv: row %d has %d fields, the header has %d", i, #row, #header)
      end
      local record = {}
      for j, name in ipairs(header) do
         record[name] = row[j]
      end
      records[#records + 1] = record
   end
   return records, header
end

--- Formats one field, quoting it when it holds the separator, a quote, a line break,
-- or leading/trailing spaces.
function M.format_field(value, sep)
   sep = sep or ","
   local s = tostring(value)
   if find(s, "[" .. strings.escape_pattern(sep) .. '"\r\n]') or strings.trim(s) ~= s then
      return '"' .. strings.replace(s, '"', '""') .. '"'
   end
   return s
end

--- Formats rows (lists of values) as CSV text. Options: `sep` (default ","),
-- `eol` (default "\n"). Every record ends with `eol`.
function M.format(rows, opts)
   opts = opts or {}
   local sep, eol = opts.sep or ",", opts.eol or "\n"
   check_sep(sep)
   local out = {}
   for i, row in ipairs(rows) do
      local fields = {}
      for j = 1, #row do
         fields[j] = M.format_field(row[j], sep)
      end
      out[i] = table.concat(fields, sep) .. eol
   end
   return table.concat(out)
end

return M
