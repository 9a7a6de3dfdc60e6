//! The `builtin` back-end: Lua modules copied, C modules compiled and linked with the C
//! compiler, exactly with the commands LuaRocks runs on Unix.

use std::path::{Path, PathBuf};

use super::install::{Perms, copy_file, copy_tree, module_basename, module_dir, source_file};
use super::process::{Invocation, run_all, words};
use super::vars::{Variables, substitute};
use super::{BuildContext, BuildError, CommandRun};
use crate::rockspec::{CModule, Module};

/// What a `build.modules` entry turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Copy the source file to this path below the rock directory.
    Lua { source: String, dest: PathBuf },
    /// Compile and link to this path below the rock directory.
    C { module: CModule, dest: PathBuf },
}

/// Plans one module: `a.b` from `x.lua` → `lua/a/b.lua`; from `x/init.lua` → `lua/a/b/init.lua`
/// (unless the name itself ends in `.init`); a string naming a non-Lua file is a one-source C
/// module; a C module `a.core` → `lib/a/core.so`.
pub fn plan_module(name: &str, module: &Module) -> Result<Plan, BuildError> {
    let field = field(name);
    let dir = module_dir(name).ok_or_else(|| BuildError::UnsafePath {
        field: field.clone(),
        value: name.to_string(),
    })?;
    let base = module_basename(name);
    let c_module = match module {
        Module::Lua(source) if source.ends_with(".lua") => {
            let is_init = Path::new(source)
                .file_name()
                .is_some_and(|f| f == "init.lua");
            let dest = if is_init && !name.ends_with(".init") {
                Path::new("lua").join(&dir).join(base).join("init.lua")
            } else {
                Path::new("lua").join(&dir).join(format!("{base}.lua"))
            };
            return Ok(Plan::Lua {
                source: source.clone(),
                dest,
            });
        }
        Module::Lua(source) => CModule {
            sources: vec![source.clone()],
            ..CModule::default()
        },
        Module::C(c) => c.clone(),
    };
    if c_module.sources.is_empty() {
        return Err(BuildError::InvalidRockspec {
            field: format!("{field}.sources"),
            problem: "a C module needs at least one source file".to_string(),
        });
    }
    let ext = crate::platform::shared_library_extension();
    Ok(Plan::C {
        module: c_module,
        dest: Path::new("lib").join(dir).join(format!("{base}.{ext}")),
    })
}

fn field(name: &str) -> String {
    format!("build.modules[{name:?}]")
}

/// The object file a C source compiles to (`src/x.c` → `src/x.o`).
pub fn object_path(source: &str) -> String {
    Path::new(source)
        .with_extension("o")
        .to_string_lossy()
        .into_owned()
}

/// The compile command for one source: `$CC $CFLAGS -I$LUA_INCDIR -c src -o obj -D.. -I..`.
pub fn compile_command(
    ctx: &BuildContext,
    source: &str,
    object: &str,
    module: &CModule,
    vars: &Variables,
    unmatched: &mut Vec<String>,
) -> Vec<String> {
    let mut argv = words(&ctx.cc);
    argv.extend(words(&ctx.cflags));
    argv.push(format!("-I{}", ctx.lua_incdir.display()));
    argv.extend([
        "-c".to_string(),
        source.to_string(),
        "-o".to_string(),
        object.to_string(),
    ]);
    argv.extend(
        module
            .defines
            .iter()
            .map(|d| format!("-D{}", substitute(d, vars, unmatched))),
    );
    argv.extend(
        module
            .incdirs
            .iter()
            .map(|d| format!("-I{}", substitute(d, vars, unmatched))),
    );
    argv
}

/// The link command: `$CC $LIBFLAG -o lib objs -L.. -Wl,-rpath,.. -l..`.
pub fn link_command(
    ctx: &BuildContext,
    library: &Path,
    objects: &[String],
    module: &CModule,
    vars: &Variables,
    unmatched: &mut Vec<String>,
) -> Vec<String> {
    let mut argv = words(&ctx.cc);
    argv.extend(words(&ctx.libflag));
    argv.push("-o".to_string());
    argv.push(library.display().to_string());
    argv.extend(objects.iter().cloned());
    let libdirs: Vec<String> = module
        .libdirs
        .iter()
        .map(|d| substitute(d, vars, unmatched))
        .collect();
    argv.extend(libdirs.iter().map(|d| format!("-L{d}")));
    // LuaRocks' gcc_rpath: libraries found in non-default directories stay loadable at runtime.
    argv.extend(libdirs.iter().map(|d| format!("-Wl,-rpath,{d}")));
    argv.extend(
        module
            .libraries
            .iter()
            .map(|l| format!("-l{}", substitute(l, vars, unmatched))),
    );
    argv
}

/// C modules whose sources compile side by side, then link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Indexes into the modules, in rockspec order.
    pub modules: Vec<usize>,
    /// A module that names one object file twice compiles one file after another.
    pub serial: bool,
}

/// Groups consecutive C modules (given by their object files) so that no object file is
/// written twice within a group: modules sharing a source (luasocket's `socket.core` and
/// `socket.unix` both compile `buffer.c`, maybe with other defines) stay in order, each
/// linking its own objects before the next one compiles them again. Pure.
pub fn compile_batches(objects: &[Vec<String>]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut written = std::collections::BTreeSet::new();
    for (i, own) in objects.iter().enumerate() {
        let unique: std::collections::BTreeSet<&String> = own.iter().collect();
        let serial = unique.len() != own.len();
        let clashes = own.iter().any(|o| written.contains(o));
        match batches.last_mut() {
            Some(batch) if !serial && !batch.serial && !clashes => batch.modules.push(i),
            _ => {
                written.clear();
                batches.push(Batch {
                    modules: vec![i],
                    serial,
                });
            }
        }
        written.extend(own.iter().cloned());
    }
    batches
}

pub struct Builtin<'a> {
    pub modules: &'a std::collections::BTreeMap<String, Module>,
    pub ctx: &'a BuildContext,
    pub vars: &'a Variables,
    pub source_dir: &'a Path,
    pub prefix: &'a Path,
}

impl Builtin<'_> {
    /// Builds every module into the rock directory, then copies a top-level `lua` directory
    /// of the sources into `lua/` as LuaRocks does.
    pub fn run(
        &self,
        log: &mut Vec<CommandRun>,
        unmatched: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let plans = self
            .modules
            .iter()
            .map(|(name, m)| plan_module(name, m).map(|p| (name, p)))
            .collect::<Result<Vec<_>, _>>()?;
        if plans.iter().any(|(_, p)| matches!(p, Plan::C { .. }))
            && !self.ctx.lua_incdir.join("lua.h").is_file()
        {
            return Err(BuildError::LuaHeadersMissing {
                dir: self.ctx.lua_incdir.clone(),
                lua_version: self.ctx.lua_version,
            });
        }
        let mut c_modules = Vec::new();
        for (name, plan) in plans {
            match plan {
                Plan::Lua { source, dest } => {
                    let from = source_file(self.source_dir, &field(name), &source)?;
                    copy_file(&from, &self.prefix.join(&dest), Perms::Read)?;
                }
                Plan::C { module, dest } => c_modules.push((name.as_str(), module, dest)),
            }
        }
        self.build_c_modules(&c_modules, log, unmatched)?;
        let lua_dir = self.source_dir.join("lua");
        if lua_dir.is_dir() {
            copy_tree(&lua_dir, self.prefix, Path::new("lua"))?;
        }
        Ok(())
    }

    /// Compiles and links the C modules: the sources of every module of a batch compile side
    /// by side (a rock's modules are not one after another, so no core waits for one small
    /// module's single file), then the batch's modules link.
    fn build_c_modules(
        &self,
        modules: &[(&str, CModule, PathBuf)],
        log: &mut Vec<CommandRun>,
        unmatched: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let compiler_missing = |e| BuildError::CompilerNotFound {
            compiler: self.ctx.cc.clone(),
            cause: e,
        };
        let slots = Some((&self.ctx.slots, self.ctx.jobs));
        let mut objects = Vec::new();
        for (name, module, _) in modules {
            for source in &module.sources {
                // The object file is written next to the source, which must therefore be
                // inside the source directory.
                source_file(self.source_dir, &format!("{}.sources", field(name)), source)?;
            }
            objects.push(module.sources.iter().map(|s| object_path(s)).collect());
        }
        for batch in compile_batches(&objects) {
            let mut compiles = Vec::new();
            for &i in &batch.modules {
                let (name, module, _) = &modules[i];
                for (source, object) in module.sources.iter().zip(&objects[i]) {
                    let argv =
                        compile_command(self.ctx, source, object, module, self.vars, unmatched);
                    compiles.push(Invocation {
                        step: format!("compiling {source} for module {name}"),
                        argv,
                        cwd: self.source_dir,
                        env: None,
                        slots,
                    });
                }
            }
            let jobs = if batch.serial { 1 } else { self.ctx.jobs };
            run_all(compiles, jobs, log, compiler_missing)?;
            // As in LuaRocks, a library is linked in the build directory first (`a/core.so`
            // for `a.core`) and then installed, so `build.install` entries can name it.
            let mut links = Vec::new();
            let mut libraries = Vec::new();
            for &i in &batch.modules {
                let (name, module, dest) = &modules[i];
                let built = dest.strip_prefix("lib").unwrap_or(dest);
                let library = self.build_output(built)?;
                let argv = link_command(
                    self.ctx,
                    &library,
                    &objects[i],
                    module,
                    self.vars,
                    unmatched,
                );
                links.push(Invocation {
                    step: format!("linking module {name}"),
                    argv,
                    cwd: self.source_dir,
                    env: None,
                    slots,
                });
                libraries.push((library, dest));
            }
            run_all(links, self.ctx.jobs, log, compiler_missing)?;
            for (library, dest) in libraries {
                copy_file(&library, &self.prefix.join(dest), Perms::Exec)?;
            }
        }
        Ok(())
    }

    /// The path `rel` (a module's library) inside the build directory, with its folder made.
    /// The folder must resolve inside the sources, so a symbolic link shipped in them cannot
    /// send the linker's output elsewhere, and a link at the file itself is removed first.
    fn build_output(&self, rel: &Path) -> Result<PathBuf, BuildError> {
        let path = self.source_dir.join(rel);
        let parent = path.parent().unwrap_or(self.source_dir);
        std::fs::create_dir_all(parent)
            .map_err(|e| BuildError::io("create directory", parent, e))?;
        let real_parent =
            std::fs::canonicalize(parent).map_err(|e| BuildError::io("resolve", parent, e))?;
        let root = std::fs::canonicalize(self.source_dir)
            .map_err(|e| BuildError::io("resolve", self.source_dir, e))?;
        if !real_parent.starts_with(&root) {
            return Err(BuildError::UnsafeLink {
                link: parent.to_path_buf(),
                target: real_parent,
                why: "would receive a module built from the sources",
            });
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&path)
                .map_err(|e| BuildError::io("replace the link", &path, e))?;
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, m: Module) -> Plan {
        plan_module(name, &m).expect("valid module")
    }

    fn lua_dest(name: &str, source: &str) -> PathBuf {
        match plan(name, Module::Lua(source.to_string())) {
            Plan::Lua { dest, .. } => dest,
            other => panic!("expected a Lua module, got {other:?}"),
        }
    }

    #[test]
    fn lua_modules_land_under_lua() {
        assert_eq!(lua_dest("a", "src/a.lua"), PathBuf::from("lua/a.lua"));
        assert_eq!(
            lua_dest("a.b", "src/whatever.lua"),
            PathBuf::from("lua/a/b.lua")
        );
        assert_eq!(
            lua_dest("a.b", "src/a/b/init.lua"),
            PathBuf::from("lua/a/b/init.lua")
        );
        assert_eq!(
            lua_dest("a.init", "src/a/init.lua"),
            PathBuf::from("lua/a/init.lua")
        );
    }

    #[test]
    fn c_modules_land_under_lib() {
        match plan("a.core", Module::Lua("src/core.c".into())) {
            Plan::C { module, dest } => {
                assert_eq!(dest, PathBuf::from("lib/a/core.so"));
                assert_eq!(module.sources, ["src/core.c"]);
            }
            other => panic!("expected C, got {other:?}"),
        }
    }

    fn batches(objects: &[&[&str]]) -> Vec<(Vec<usize>, bool)> {
        let objects: Vec<Vec<String>> = objects
            .iter()
            .map(|o| o.iter().map(|s| s.to_string()).collect())
            .collect();
        compile_batches(&objects)
            .into_iter()
            .map(|b| (b.modules, b.serial))
            .collect()
    }

    #[test]
    fn modules_with_distinct_objects_compile_as_one_batch() {
        assert_eq!(
            batches(&[&["a.o", "b.o"], &["c.o"], &["d.o", "e.o"]]),
            [(vec![0, 1, 2], false)]
        );
        assert_eq!(batches(&[]), []);
    }

    #[test]
    fn a_shared_object_starts_a_new_batch_in_rockspec_order() {
        assert_eq!(
            batches(&[&["buffer.o", "tcp.o"], &["unix.o", "buffer.o"], &["mime.o"]]),
            [(vec![0], false), (vec![1, 2], false)]
        );
    }

    #[test]
    fn a_module_naming_an_object_twice_compiles_alone_and_serially() {
        assert_eq!(
            batches(&[&["a.o"], &["x.o", "x.o"], &["b.o"]]),
            [(vec![0], false), (vec![1], true), (vec![2], false)]
        );
    }

    #[test]
    fn bad_modules_are_rejected() {
        assert!(matches!(
            plan_module("../x", &Module::Lua("x.lua".into())),
            Err(BuildError::UnsafePath { .. })
        ));
        let err = plan_module("x", &Module::C(CModule::default())).expect_err("no sources");
        assert!(
            err.to_string().contains("build.modules[\"x\"].sources"),
            "{err}"
        );
    }

    #[test]
    fn commands_carry_flags_defines_and_substituted_dirs() {
        let ctx = BuildContext::from_vars(
            crate::luaversion::LuaVersion::Lua54,
            Path::new("/inc"),
            None,
            |k| match k {
                "CC" => Some("ccache gcc".into()),
                _ => None,
            },
        );
        let module = CModule {
            sources: vec!["x.c".into()],
            defines: vec!["A=1".into()],
            incdirs: vec!["$(FOO_INCDIR)".into()],
            libdirs: vec!["$(FOO_LIBDIR)".into()],
            libraries: vec!["foo".into()],
        };
        let mut vars = Variables::new();
        vars.insert("FOO_INCDIR".into(), "/opt/inc".into());
        vars.insert("FOO_LIBDIR".into(), "/opt/lib".into());
        let mut unmatched = Vec::new();
        let cc = compile_command(&ctx, "x.c", "x.o", &module, &vars, &mut unmatched);
        assert_eq!(
            cc,
            [
                "ccache",
                "gcc",
                "-O2",
                "-fPIC",
                "-I/inc",
                "-c",
                "x.c",
                "-o",
                "x.o",
                "-DA=1",
                "-I/opt/inc"
            ]
        );
        let ld = link_command(
            &ctx,
            Path::new("/p/lib/x.so"),
            &["x.o".into()],
            &module,
            &vars,
            &mut unmatched,
        );
        assert_eq!(
            ld,
            [
                "ccache",
                "gcc",
                "-shared",
                "-o",
                "/p/lib/x.so",
                "x.o",
                "-L/opt/lib",
                "-Wl,-rpath,/opt/lib",
                "-lfoo"
            ]
        );
        assert!(unmatched.is_empty());
        assert_eq!(object_path("src/a.b/x.c"), "src/a.b/x.o");
    }
}
