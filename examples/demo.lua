-- A small program built from the example rocks: reads a CSV file and prints its
-- records as JSON or as Lua tables, with an FNV-1a hash of each record when the C
-- module lvmx-hash is installed.
--   lua5.4 examples/demo.lua [--json] [--only NAME] FILE.csv
local argparse = require("lvmx.argparse")
local csv = require("lvmx.csv")
local json = require("lvmx.json")
local inspect = require("lvmx.inspect")
local has_hash, hash = pcall(require, "lvmx.hash")

local parser = argparse.new("demo.lua", "Show the records of a CSV file.")
parser:flag("-j --json", "Print JSON instead of Lua tables.")
parser:option("-o --only", "Show only the record whose first column is NAME.")
parser:argument("file", "The CSV file to read.")
local args, message, code = parser:parse(arg)
if not args then
   io.stderr:write(message, "\n")
   os.exit(code)
end

local f = assert(io.open(args.file, "rb"))
local text = f:read("*a")
f:close()
local records, header = csv.records(text)
if not records then
   io.stderr:write(header, "\n")
   os.exit(1)
end

local shown = json.array()
for _, record in ipairs(records) do
   if not args.only or record[header[1]] == args.only then
      if has_hash then
         record.fnv1a = hash.hex32(json.encode(record))
      end
      shown[#shown + 1] = record
   end
end
if args.json then
   print(json.encode(shown, { indent = "  " }))
else
   print(inspect(shown, { metatables = false }))
end
if not has_hash then
   print("(lvmx-hash is not installed: no hashes)")
end
