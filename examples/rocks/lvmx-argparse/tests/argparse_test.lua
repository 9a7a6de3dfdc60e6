-- Tests for lvmx.argparse; run with lvmx.argparse and lvmx.strings on package.path:
--   lua tests/argparse_test.lua
local argparse = require("lvmx.argparse")

local checks = 0
local function same(actual, expected, what)
   checks = checks + 1
   if actual ~= expected then
      error(("%s:\nexpected: %s\ngot: %s"):format(what, tostring(expected), tostring(actual)), 2)
   end
end

local function parser()
   local p = argparse.new("pack", "Pack files into an archive.")
   p:flag("-v --verbose", "Say more.")
   p:flag("-q --quiet", "Say less.")
   p:flag("--dry-run", "Only show what would happen.")
   p:option("-o --output", "Where to write.", { default = "out.tar" })
   p:option("-l --level", "Compression level.", { convert = tonumber })
   p:option("-f --format", "Archive format.", { choices = { "tar", "zip" } })
   p:option("-I --include", "Add a folder.", { multiple = true })
   p:argument("name", "Archive name.")
   p:argument("files", "Files to pack.", { multiple = true, optional = true })
   return p
end

local args = assert(parser():parse({ "backup" }))
same(args.name, "backup", "positional")
same(args.output, "out.tar", "default")
same(args.verbose, false, "flag default")
same(#args.files, 0, "optional multiple")
same(#args.include, 0, "multiple option default")

args = assert(parser():parse({ "-vq", "--dry-run", "-o", "x.tar", "--level=9", "-Isrc", "-I", "lib",
   "--format", "zip", "name", "a", "--", "-b" }))
same(args.verbose and args.quiet, true, "grouped short flags")
same(args.dry_run, true, "dashes become underscores")
same(args.output, "x.tar", "short option with separate value")
same(args.level, 9, "converted value")
same(table.concat(args.include, ","), "src,lib", "multiple option")
same(args.format, "zip", "choice")
same(table.concat(args.files, ","), "a,-b", "-- ends options")

args = assert(parser():parse({ "-vl3", "n" }))
same(args.level, 3, "value attached after a grouped flag")

local function fails(argv, fragment)
   checks = checks + 1
   local result, message, code = parser():parse(argv)
   if result ~= nil or code ~= 2 or not message:find(fragment, 1, true) then
      error(("%s should fail with %q, got %s"):format(table.concat(argv, " "), fragment, tostring(message)), 2)
   end
end

fails({}, "pack: missing argument <name>")
fails({ "--nope", "x" }, "unknown option '--nope'")
fails({ "-z", "x" }, "unknown option '-z'")
fails({ "x", "-o" }, "option '-o' needs a value")
fails({ "--verbose=yes", "x" }, "option '--verbose' takes no value")
fails({ "--level", "high", "x" }, "invalid value 'high' for -l")
fails({ "--format", "rar", "x" }, "invalid value 'rar' for -f (choose from tar, zip)")

local p = argparse.new("one")
p:argument("only")
local r, message = p:parse({ "a", "b" })
same(r, nil, "too many arguments")
same(message:match("unexpected argument 'b'") ~= nil, true, "too many arguments message")

local result, help, code = parser():parse({ "--help" })
same(result, nil, "help returns no result")
same(code, 0, "help exit code")
same(help, table.concat({
   "Usage: pack [-v] [-q] [--dry-run] [-o <output>] [-l <level>] [-f <format>] [-I <include>] <name> [<files>...]",
   "",
   "Pack files into an archive.",
   "",
   "  <name>                   Archive name.",
   "  <files>                  Files to pack.",
   "  -h, --help               Show this help and exit.",
   "  -v, --verbose            Say more.",
   "  -q, --quiet              Say less.",
   "  --dry-run                Only show what would happen.",
   "  -o, --output <output>    Where to write. (default: out.tar)",
   "  -l, --level <level>      Compression level.",
   "  -f, --format <format>    Archive format.",
   "  -I, --include <include>  Add a folder.",
}, "\n"), "help text")

same(pcall(function() argparse.new("x"):flag("verbose") end), false, "invalid option name")

print(("lvmx-argparse: %d checks passed"):format(checks))
