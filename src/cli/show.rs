//! `lvm show NAME`: one installed package in full (its source, why it is installed, license,
//! homepage, dependencies, modules and commands, and where it is installed); for a package that
//! is not installed, what the rocks servers publish (versions, summary, license, homepage,
//! dependencies), as `luarocks show` and `luarocks search` tell together.

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, read_scope};
use super::{Context, complete, exit, print_json};
use lvm::ops::show::{RemotePackage, remote_package};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm show penlight         version, source, why installed, license, modules and commands
  lvm show lua-cjson        not installed: its versions on the servers, summary, dependencies
  lvm show penlight --json  the same as JSON")]
pub struct ShowArgs {
    #[arg(add = complete::packages())]
    pub name: String,
    /// Print the package as a JSON object. Installed: name, installed (true), package (its
    /// manifest.json entry), summary, license, homepage, modules, commands and rock_dir. Not
    /// installed: name, installed (false), version (the newest), versions, servers, server,
    /// summary, license, homepage and dependencies.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: ShowArgs) -> Result<i32> {
    let (env, scope) = read_scope(ctx)?;
    let name = args.name.to_ascii_lowercase();
    let installed = match &env {
        Some(env) => {
            let manifest = env.manifest()?;
            manifest
                .packages
                .get(&name)
                .cloned()
                .map(|p| (p, manifest.lua))
        }
        None => None,
    };
    let (Some(env), Some((package, lua))) = (&env, installed) else {
        let remote = remote_package(&scope, &name, &args.servers.choice()?)?;
        if args.json {
            let mut value = serde_json::to_value(&remote)?;
            value["installed"] = serde_json::Value::Bool(false);
            print_json(&value)?;
        } else {
            print_remote(&remote);
        }
        return Ok(exit::OK);
    };
    let rock_dir =
        lvm::tree::rock_dir(&env.tree_path(), env.lua(), &name, package.version.as_str());
    let info =
        lvm::tree::rockfiles::installed_info(&env.tree_path(), env.lua(), &name, &package.version);
    let build = lvm::ops::cache::build_origin(env, &package)?;
    if args.json {
        print_json(&serde_json::json!({
            "name": name, "installed": true, "package": package, "summary": info.summary,
            "license": info.license, "homepage": info.homepage,
            "modules": info.modules, "commands": info.commands, "rock_dir": rock_dir,
            "lua": lua, "build": build,
        }))?;
        return Ok(exit::OK);
    }
    println!("{name} {}", package.version);
    if let Some(s) = &info.summary {
        println!("  {s}");
    }
    println!("  source:       {}", package.source.describe());
    println!("  lua:          {lua}");
    match &package.reason.requested {
        Some(c) if c.is_empty() => println!("  requested:    yes"),
        Some(c) => println!("  requested:    {c}"),
        None => println!("  required by:  {}", package.reason.required_by.join(", ")),
    }
    if let Some(license) = &info.license {
        println!("  license:      {license}");
    }
    if let Some(homepage) = &info.homepage {
        println!("  homepage:     {homepage}");
    }
    if !package.dependencies.is_empty() {
        println!("  dependencies: {}", package.dependencies.join("; "));
    }
    if !info.modules.is_empty() {
        println!("  modules:      {}", info.modules.join(", "));
    }
    if !info.commands.is_empty() {
        println!("  commands:     {}", info.commands.join(", "));
    }
    println!("  installed in: {}", rock_dir.display());
    match build {
        Some(lvm::ops::cache::BuildOrigin::Cache { cache, signed_by }) => {
            println!("  build:        from cache {cache} (signed by {signed_by})")
        }
        Some(lvm::ops::cache::BuildOrigin::Built) => println!("  build:        built here"),
        None => println!("  build:        not in the store (`lvm sync` builds it)"),
    }
    Ok(exit::OK)
}

fn print_remote(remote: &RemotePackage) {
    println!("{} {}  (not installed)", remote.name, remote.version);
    if let Some(s) = &remote.summary {
        println!("  {s}");
    }
    if let Some(license) = &remote.license {
        println!("  license:      {license}");
    }
    if let Some(homepage) = &remote.homepage {
        println!("  homepage:     {homepage}");
    }
    println!("  versions:     {}", remote.versions.join(", "));
    println!("  servers:      {}", remote.servers.join(", "));
    if !remote.dependencies.is_empty() {
        println!("  dependencies: {}", remote.dependencies.join("; "));
    }
    println!("  install with: lvm install {}", remote.name);
}
