//! `lvm download NAME [VERSION]` and `lvm unpack NAME|FILE`: a package's rock or rockspec
//! fetched from the rocks servers, and unpacked with its sources into a folder (like
//! `luarocks download` and `luarocks unpack`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, read_scope};
use super::{Context, exit, print_json};
use lvm::ops::download::{Wanted, download};
use lvm::ops::unpack::{Unpacked, unpack_file, unpack_package};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm download penlight               ./penlight-1.14.0-1.src.rock (or its rockspec)
  lvm download penlight 1.13.1-1 --rockspec
  lvm download lpeg '>= 1.1' --source --to /srv/mirror")]
pub struct DownloadArgs {
    pub name: String,
    /// An exact version (`1.0-1`) or a constraint (`'>= 1.0'`); default: the newest.
    pub version: Option<String>,
    /// Only the `.rockspec`.
    #[arg(long, conflicts_with = "source")]
    pub rockspec: bool,
    /// Only the `.src.rock` (the rockspec with its sources).
    #[arg(long)]
    pub source: bool,
    /// The folder to write into (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Print what was fetched as a JSON object: name, version, arch, server and path.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec_download(ctx: &Context, args: DownloadArgs) -> Result<i32> {
    let (_, scope) = read_scope(ctx)?;
    let wanted = match (args.rockspec, args.source) {
        (true, _) => Wanted::Rockspec,
        (_, true) => Wanted::SourceRock,
        _ => Wanted::Any,
    };
    let dest = args.to.unwrap_or_else(|| PathBuf::from("."));
    let fetched = download(
        &scope,
        &args.servers.choice()?,
        &args.name,
        args.version.as_deref(),
        wanted,
        &dest,
    )?;
    if args.json {
        print_json(&fetched)?;
    } else if !ctx.quiet {
        println!("Downloaded {}", fetched.path.display());
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm unpack penlight                    ./penlight-1.14.0-1/ with the rockspec and sources
  lvm unpack ./foo-1.0-1.src.rock        a rock file you have
  lvm unpack foo-1.0-1.rockspec --to /tmp  fetches the rockspec's source.url
  cd penlight-1.14.0-1/penlight-1.14.0 && lvm make   then build it")]
pub struct UnpackArgs {
    /// A package name, or a `.rockspec`, `.src.rock` or binary `.rock` file.
    pub what: String,
    /// With a package name: an exact version or a constraint; default: the newest.
    pub version: Option<String>,
    /// The folder to unpack into (default: the current one); `<name>-<version>/` is made in it.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Print what was unpacked as a JSON object: name, version, dir, rockspec and sources (the
    /// folder to build in, null for a binary rock).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec_unpack(ctx: &Context, args: UnpackArgs) -> Result<i32> {
    let dest = args.to.clone().unwrap_or_else(|| PathBuf::from("."));
    let is_file = args.what.ends_with(".rockspec") || args.what.ends_with(".rock");
    let (_, scope) = read_scope(ctx)?;
    let unpacked = if is_file {
        if args.version.is_some() {
            anyhow::bail!(
                "a version goes with a package name, not with a file ({})",
                args.what
            );
        }
        unpack_file(
            std::path::Path::new(&args.what),
            &dest,
            &scope.fetch_options(),
        )?
    } else {
        unpack_package(
            &scope,
            &args.servers.choice()?,
            &args.what,
            args.version.as_deref(),
            &dest,
        )?
    };
    if args.json {
        print_json(&unpacked)?;
    } else if !ctx.quiet {
        print_unpacked(&unpacked);
    }
    Ok(exit::OK)
}

fn print_unpacked(unpacked: &Unpacked) {
    println!(
        "Unpacked {} {} into {}",
        unpacked.name,
        unpacked.version,
        unpacked.dir.display()
    );
    if let Some(sources) = &unpacked.sources {
        println!(
            "  sources in {}: `lvm make {}` there builds and installs it",
            sources.display(),
            unpacked.rockspec.display()
        );
    }
}
