//! The two manifests of a LuaRocks tree, built as LuaRocks 3.8 builds them: a rock's
//! `rock_manifest` (`manif/writer.lua`, `make_rock_manifest`) and the tree's
//! `lib/luarocks/rocks-5.4/manifest` (`make_manifest`, `store_results`, `update_dependencies`).
//! Pure functions over file lists; the I/O lives in [`crate::tree`].

use std::collections::{BTreeMap, BTreeSet};

use super::persist::{Key, Table, Value, save_from_table};
use crate::platform::shared_library_extension;
use crate::version::{Dependency, Version};

/// Dependencies LuaRocks treats as provided by the interpreter, never as installed rocks.
const PROVIDED: &[&str] = &["lua"];

/// The text of a `rock_manifest` for a prefix whose entries (relative `/` paths, sorted or not)
/// are given with the md5 of each file, `None` for directories. Directories become nested
/// tables, empty ones `{}`, as LuaRocks does.
pub fn rock_manifest(entries: &[(String, Option<String>)]) -> String {
    let mut root = Table::new();
    for (rel, md5) in entries {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else {
            continue;
        };
        let mut walk = &mut root;
        for dir in dirs {
            walk = walk.table_mut(dir);
        }
        match md5 {
            Some(sum) => walk.set_str(last, sum.clone()),
            None => {
                walk.table_mut(last);
            }
        }
    }
    let mut fields = Table::new();
    fields.set_table("rock_manifest", root);
    save_from_table(&fields)
}

/// LuaRocks' `path.path_to_module`: `a/b.lua` and `a/b.so` are module `a.b`; other files keep
/// their path as the item name; leading and trailing dots are dropped.
pub fn path_to_module(file: &str) -> String {
    let lib_ext = format!(".{}", shared_library_extension());
    let name = if let Some(stem) = file.strip_suffix(".lua").filter(|s| !s.is_empty()) {
        stem.replace('/', ".")
    } else if let Some(stem) = file.strip_suffix(&lib_ext).filter(|s| !s.is_empty()) {
        stem.replace('/', ".")
    } else {
        file.to_string()
    };
    name.trim_matches('.').to_string()
}

/// What the tree manifest needs to know about one installed rock.
#[derive(Debug, Clone)]
pub struct RockContents {
    pub name: String,
    pub version: Version,
    pub dependencies: Vec<Dependency>,
    /// Every file of the rock prefix, relative (`lua/a/b.lua`, `bin/tool`).
    pub files: Vec<String>,
}

impl RockContents {
    /// Files under `dir/`, relative to it.
    fn files_under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.files.iter().filter_map(move |f| {
            f.strip_prefix(dir)
                .and_then(|r| r.strip_prefix('/'))
                .filter(|r| !r.is_empty())
        })
    }

    /// Module name → file (relative to `lib/` or `lua/`); `lua/` wins over `lib/` for the same
    /// name, as in LuaRocks' `repos.package_modules`.
    pub fn modules(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for dir in ["lib", "lua"] {
            for file in self.files_under(dir) {
                out.insert(path_to_module(file), file.to_string());
            }
        }
        out
    }

    /// Command name → file (relative to `bin/`).
    pub fn commands(&self) -> BTreeMap<String, String> {
        self.files_under("bin")
            .map(|f| (f.to_string(), f.to_string()))
            .collect()
    }

    fn id(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }
}

/// The text of the tree manifest for the given rocks.
pub fn tree_manifest(rocks: &[RockContents]) -> String {
    let mut repository = Table::new();
    let mut modules: BTreeMap<String, Vec<&RockContents>> = BTreeMap::new();
    let mut commands: BTreeMap<String, Vec<&RockContents>> = BTreeMap::new();
    let mut dependencies = Table::new();

    for rock in rocks {
        let rock_modules = rock.modules();
        let rock_commands = rock.commands();
        for name in rock_modules.keys() {
            modules.entry(name.clone()).or_default().push(rock);
        }
        for name in rock_commands.keys() {
            commands.entry(name.clone()).or_default().push(rock);
        }

        let mut entry = Table::new();
        entry.set_str("arch", "installed");
        entry.set_table("commands", string_map(&rock_commands));
        entry.set_table("modules", string_map(&rock_modules));
        let closure: BTreeMap<String, String> = dependency_closure(rock, rocks)
            .into_iter()
            .map(|r| (r.name.clone(), r.version.to_string()))
            .collect();
        entry.set_table("dependencies", string_map(&closure));
        let mut entries = Table::new();
        entries.push(Value::Table(entry));
        repository
            .table_mut(&rock.name)
            .set_table(rock.version.as_str(), entries);

        let mut deps = Table::new();
        for dep in &rock.dependencies {
            deps.push(Value::Table(dependency_table(dep)));
        }
        dependencies
            .table_mut(&rock.name)
            .set_table(rock.version.as_str(), deps);
    }

    let mut fields = Table::new();
    fields.set_table("commands", providers_table(commands));
    fields.set_table("dependencies", dependencies);
    fields.set_table("modules", providers_table(modules));
    fields.set_table("repository", repository);
    save_from_table(&fields)
}

fn string_map(map: &BTreeMap<String, String>) -> Table {
    let mut t = Table::new();
    for (k, v) in map {
        t.set_str(k, v.clone());
    }
    t
}

/// `name/version` lists sorted by name, then highest version first, without duplicates
/// (`sort_package_matching_table`).
fn providers_table(items: BTreeMap<String, Vec<&RockContents>>) -> Table {
    let mut t = Table::new();
    for (item, mut providers) in items {
        providers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.version.cmp(&a.version)));
        providers.dedup_by(|a, b| a.name == b.name && a.version == b.version);
        let mut list = Table::new();
        for p in providers {
            list.push(Value::Str(p.id()));
        }
        t.set_table(&item, list);
    }
    t
}

/// A dependency as LuaRocks' queries store it: `{ name = ..., constraints = { { op = ...,
/// version = { 1, 2, revision = 1, string = "1.2-1" } } } }`.
fn dependency_table(dep: &Dependency) -> Table {
    let mut t = Table::new();
    match dep.name.split_once('/') {
        Some((namespace, name)) => {
            t.set_str("name", name);
            t.set_str("namespace", namespace);
        }
        None => t.set_str("name", dep.name.clone()),
    }
    let mut constraints = Table::new();
    for c in &dep.constraints.0 {
        let mut ct = Table::new();
        ct.set_str("op", c.op.as_str());
        ct.set_table("version", version_table(&c.version));
        if c.no_upgrade {
            ct.set(Key::Name("no_upgrade".into()), Value::Bool(true));
        }
        constraints.push(Value::Table(ct));
    }
    t.set_table("constraints", constraints);
    t
}

fn version_table(v: &Version) -> Table {
    let mut t = Table::new();
    for c in v.components() {
        t.push(Value::Num(*c));
    }
    if let Some(rev) = v.revision() {
        t.set(Key::Name("revision".into()), Value::Num(rev as f64));
    }
    t.set_str("string", v.as_str());
    t
}

/// The rocks `rock` transitively depends on among `rocks` (highest matching version of each
/// dependency, as `deps.scan_deps` picks), without `rock` itself and without provided ones.
pub fn dependency_closure<'a>(
    rock: &RockContents,
    rocks: &'a [RockContents],
) -> Vec<&'a RockContents> {
    let mut seen: BTreeSet<String> = BTreeSet::from([rock.name.clone()]);
    let mut out = Vec::new();
    let mut stack: Vec<&Dependency> = rock.dependencies.iter().rev().collect();
    while let Some(dep) = stack.pop() {
        let name = dep.name.rsplit('/').next().unwrap_or(&dep.name);
        if PROVIDED.contains(&name) || seen.contains(name) {
            continue;
        }
        let best = rocks
            .iter()
            .filter(|r| r.name == name && dep.matches(&r.version))
            .max_by(|a, b| a.version.cmp(&b.version));
        if let Some(found) = best {
            seen.insert(found.name.clone());
            out.push(found);
            stack.extend(found.dependencies.iter().rev());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rock(name: &str, version: &str, deps: &[&str], files: &[&str]) -> RockContents {
        RockContents {
            name: name.into(),
            version: Version::parse(version).unwrap(),
            dependencies: deps.iter().map(|d| Dependency::parse(d).unwrap()).collect(),
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn module_names_follow_luarocks() {
        assert_eq!(path_to_module("foo/init.lua"), "foo.init");
        assert_eq!(path_to_module("a/core.so"), "a.core");
        assert_eq!(path_to_module("data/x.txt"), "data/x.txt");
    }

    #[test]
    fn rock_manifest_matches_luarocks_output() {
        let entries = vec![
            ("bin".to_string(), None),
            ("bin/footool".to_string(), Some("9c46".to_string())),
            ("foo-1.0-1.rockspec".to_string(), Some("539a".to_string())),
            ("lua".to_string(), None),
            ("lua/foo".to_string(), None),
            ("lua/foo/bar.lua".to_string(), Some("ad56".to_string())),
            ("lua/foo/init.lua".to_string(), Some("048b".to_string())),
            ("doc".to_string(), None),
        ];
        let expected = r#"rock_manifest = {
   bin = {
      footool = "9c46"
   },
   doc = {},
   ["foo-1.0-1.rockspec"] = "539a",
   lua = {
      foo = {
         ["bar.lua"] = "ad56",
         ["init.lua"] = "048b"
      }
   }
}
"#;
        assert_eq!(rock_manifest(&entries), expected);
    }

    /// The exact text LuaRocks 3.8 wrote for the same two rocks installed with `luarocks make`.
    #[test]
    fn tree_manifest_matches_luarocks_output() {
        let rocks = vec![
            rock(
                "bar",
                "2.1-1",
                &["lua >= 5.1"],
                &["bar-2.1-1.rockspec", "lua/bar.lua"],
            ),
            rock(
                "foo",
                "1.0-1",
                &["lua >= 5.1, < 5.5", "bar >= 2.0"],
                &[
                    "bin/footool",
                    "foo-1.0-1.rockspec",
                    "lua/foo/bar.lua",
                    "lua/foo/init.lua",
                ],
            ),
        ];
        let expected = r#"commands = {
   footool = {
      "foo/1.0-1"
   }
}
dependencies = {
   bar = {
      ["2.1-1"] = {
         {
            constraints = {
               {
                  op = ">=",
                  version = {
                     5, 1, string = "5.1"
                  }
               }
            },
            name = "lua"
         }
      }
   },
   foo = {
      ["1.0-1"] = {
         {
            constraints = {
               {
                  op = ">=",
                  version = {
                     5, 1, string = "5.1"
                  }
               },
               {
                  op = "<",
                  version = {
                     5, 5, string = "5.5"
                  }
               }
            },
            name = "lua"
         },
         {
            constraints = {
               {
                  op = ">=",
                  version = {
                     2, 0, string = "2.0"
                  }
               }
            },
            name = "bar"
         }
      }
   }
}
modules = {
   bar = {
      "bar/2.1-1"
   },
   ["foo.bar"] = {
      "foo/1.0-1"
   },
   ["foo.init"] = {
      "foo/1.0-1"
   }
}
repository = {
   bar = {
      ["2.1-1"] = {
         {
            arch = "installed",
            commands = {},
            dependencies = {},
            modules = {
               bar = "bar.lua"
            }
         }
      }
   },
   foo = {
      ["1.0-1"] = {
         {
            arch = "installed",
            commands = {
               footool = "footool"
            },
            dependencies = {
               bar = "2.1-1"
            },
            modules = {
               ["foo.bar"] = "foo/bar.lua",
               ["foo.init"] = "foo/init.lua"
            }
         }
      }
   }
}
"#;
        assert_eq!(tree_manifest(&rocks), expected);
    }

    #[test]
    fn closure_is_transitive_and_picks_the_highest_match() {
        let rocks = vec![
            rock("a", "1.0-1", &["b"], &[]),
            rock("b", "1.0-1", &["c < 2"], &[]),
            rock("c", "1.5-1", &[], &[]),
            rock("c", "2.0-1", &[], &[]),
        ];
        let names: Vec<String> = dependency_closure(&rocks[0], &rocks)
            .iter()
            .map(|r| format!("{}/{}", r.name, r.version))
            .collect();
        assert_eq!(names, ["b/1.0-1", "c/1.5-1"]);
    }

    #[test]
    fn constraint_versions_carry_revision_and_words() {
        let t = dependency_table(&Dependency::parse("zap == 2.0alpha3-1").unwrap());
        let mut fields = Table::new();
        fields.set_table("d", t);
        let text = save_from_table(&fields);
        assert!(
            text.contains("2, 0, -999999.99997, revision = 1, string = \"2.0alpha3-1\""),
            "{text}"
        );
    }
}
