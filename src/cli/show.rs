//! `lvm show NAME`: one installed package in full (its source, why it is installed, its
//! dependencies, modules and commands, and where it is installed).

use anyhow::{Result, bail};
use clap::Args;

use super::{Context, complete, exit, print_json};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm show penlight         version, source, why installed, modules and commands
  lvm show penlight --json  the same as JSON")]
pub struct ShowArgs {
    #[arg(add = complete::packages())]
    pub name: String,
    /// Print the package as a JSON object: name, package (its manifest.json entry), summary,
    /// modules, commands and rock_dir.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: ShowArgs) -> Result<i32> {
    let env = ctx.open()?;
    let manifest = env.manifest()?;
    let name = args.name.to_ascii_lowercase();
    let Some(package) = manifest.packages.get(&name) else {
        bail!(
            "{} is not installed in this environment (see `lvm list`, or `lvm search {}`)",
            args.name,
            args.name
        );
    };
    let rock_dir =
        lvm::tree::rock_dir(&env.tree_path(), env.lua(), &name, package.version.as_str());
    let info = lvm::tree::rockfiles::installed_info(&rock_dir, &name, &package.version);
    if args.json {
        print_json(&serde_json::json!({
            "name": name, "package": package, "summary": info.summary,
            "modules": info.modules, "commands": info.commands, "rock_dir": rock_dir,
            "lua": manifest.lua,
        }))?;
        return Ok(exit::OK);
    }
    println!("{name} {}", package.version);
    if let Some(s) = &info.summary {
        println!("  {s}");
    }
    println!("  source:       {}", package.source.describe());
    println!("  lua:          {}", manifest.lua);
    match &package.reason.requested {
        Some(c) if c.is_empty() => println!("  requested:    yes"),
        Some(c) => println!("  requested:    {c}"),
        None => println!("  required by:  {}", package.reason.required_by.join(", ")),
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
    Ok(exit::OK)
}
