//! `lvm cache push | pull | list | verify | key generate`: the shared, signed build caches
//! (folders, HTTP(S), S3-compatible storage) an environment's builds travel through.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{Context, outcome};
use lvm::ops::cache::{self, CacheReport};
use lvm::ops::cache_entries::{self, CacheEntries};

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Upload the builds of the environment's packages (or the named ones) to a cache, signed
    /// with your key (`lvm cache key generate`).
    #[command(after_help = "\
Examples:
  lvm cache push                          every package, to the cache_push setting's cache
  lvm cache push --to s3://team-builds/lvm luasocket
  lvm cache push --to file:///srv/lvm-cache --json")]
    Push {
        /// Package names; all the environment's packages when none is given.
        names: Vec<String>,
        /// The cache to write to (file://, http(s)://, s3://bucket/prefix) instead of cache_push.
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// The signing key file (default: cache-signing.key in the lvm home).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Print what was uploaded as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch the builds the store lacks from the caches (checked as an install checks them),
    /// so the next change needs no compiler for them.
    #[command(after_help = "\
Examples:
  lvm cache pull                           from the caches setting, in order
  lvm cache pull --from https://cache.example.org/lvm

Exit status: 0 when every build the store lacked was fetched or is missing from the caches;
1 when a cache holds an entry that was refused (an untrusted key, a signature or file that
does not check out), or a cache cannot be read.")]
    Pull(ReadArgs),
    /// Which of the environment's packages each cache holds, signed by a trusted key; with
    /// --all (or outside every environment), every entry of the cache.
    #[command(after_help = "\
Examples:
  lvm cache list
  lvm cache list --from s3://team-builds/lvm --json
  lvm cache list --all --from file:///srv/lvm-cache   every entry, whoever pushed it

Exit status: 0 when the caches could be listed, also when an entry is signed by a key that is
not in trusted_keys (shown as untrusted, with the key: an install ignores it); 1 when an entry
does not check out (refused: a signature that fails, an entry of another build; with --all
also unreadable), or a cache cannot be read. `lvm cache verify` fails on untrusted entries.")]
    List(CheckArgs),
    /// Download the environment's entries from each cache and check their signature and every
    /// file hash; with --all (or outside every environment), every entry of the cache.
    #[command(after_help = "\
Examples:
  lvm cache verify
  lvm cache verify --from file:///srv/lvm-cache luasocket
  lvm cache verify --all --from s3://team-builds/lvm --json

Exit status: 0 when every entry checked out (ok) or is missing; 1 when one does not (refused:
signed by a key not in trusted_keys, a signature, the rock or a file that does not match;
with --all also unreadable), or a cache cannot be read.")]
    Verify(CheckArgs),
    /// Signing keys.
    #[command(after_help = "\
Examples:
  lvm cache key generate --name ci-1   a new key; its public half goes into trusted_keys")]
    #[command(subcommand)]
    Key(KeyCommand),
}

/// The arguments of the commands that read caches.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Package names; all the environment's packages when none is given.
    names: Vec<String>,
    /// Read this cache (file://, http(s)://, s3://bucket/prefix) instead of the caches setting.
    #[arg(long, visible_alias = "cache", value_name = "URL")]
    from: Option<String>,
    /// Print a JSON array: per cache (cache), each package's name, version, store_key, status
    /// (fetched, present, ok, missing, untrusted, refused), detail and bytes.
    #[arg(long)]
    json: bool,
}

/// The arguments of `list` and `verify`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// Every entry of the cache, whoever pushed it, not only the environment's packages. With
    /// --json: per cache (cache, truncated), each entry's store_key, name, version, lua,
    /// platform, signed_by, bytes, trusted, status (list: trusted, untrusted, refused,
    /// unreadable; verify: ok, refused, unreadable) and detail.
    #[arg(long, conflicts_with = "names")]
    all: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new ed25519 signing key and print its public key, for the trusted_keys setting.
    #[command(after_help = "\
Examples:
  lvm cache key generate --name ci-builds-1
  lvm config set --user trusted_keys \"$(lvm cache key generate --name me-1)\"")]
    Generate {
        /// The key's name, shown when an entry it signed is checked (default: USER-HOST, so
        /// each builder's key is told apart).
        #[arg(long)]
        name: Option<String>,
        /// Where to write the secret key (default: cache-signing.key in the lvm home).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn exec(ctx: &Context, command: CacheCommand) -> Result<i32> {
    match command {
        CacheCommand::Push {
            names,
            to,
            key,
            json,
        } => {
            let env = ctx.open()?;
            let key = key.unwrap_or_else(|| cache::default_key_file(env.home()));
            let report = cache::push(&env, &names, to.as_deref(), &key)?;
            let failed = report.packages.iter().any(|p| p.status == "skipped");
            print_reports(ctx, json, &[report])?;
            Ok(if failed { 1 } else { 0 })
        }
        CacheCommand::Pull(args) => read_command(ctx, args, cache::pull),
        CacheCommand::List(args) => check_command(ctx, args, cache::list, cache_entries::list_all),
        CacheCommand::Verify(args) => {
            check_command(ctx, args, cache::verify, cache_entries::verify_all)
        }
        CacheCommand::Key(KeyCommand::Generate { name, out }) => {
            let file = out.unwrap_or_else(|| cache::default_key_file(&ctx.home));
            let name = name.unwrap_or_else(lvm::cache::keys::default_name_here);
            let public = cache::generate_key(&name, &file)?;
            eprintln!(
                "secret key written to {} (keep it private; CI needs a copy to push)",
                file.display()
            );
            println!("{public}");
            Ok(0)
        }
    }
}

type ReadOperation =
    fn(&lvm::env::Environment, &[String], Option<&str>) -> lvm::ops::Result<Vec<CacheReport>>;

/// Runs pull, list or verify and prints its reports; exits 1 when an entry was refused (an
/// `untrusted` one in a listing is not refused).
fn read_command(ctx: &Context, args: ReadArgs, operation: ReadOperation) -> Result<i32> {
    read_command_in(ctx, &ctx.open()?, args, operation)
}

/// [`read_command`] in an environment already opened.
fn read_command_in(
    ctx: &Context,
    env: &lvm::env::Environment,
    args: ReadArgs,
    operation: ReadOperation,
) -> Result<i32> {
    let reports = operation(env, &args.names, args.from.as_deref())?;
    let refused = reports
        .iter()
        .flat_map(|r| &r.packages)
        .any(|p| p.status == "refused");
    print_reports(ctx, args.json, &reports)?;
    Ok(if refused { 1 } else { 0 })
}

type AllOperation =
    fn(&cache_entries::CacheScope, Option<&str>) -> lvm::ops::Result<Vec<CacheEntries>>;

/// Runs list or verify: over the environment's packages, or with --all (and outside every
/// environment, which has no packages) over every entry of the caches; exits 1 when an entry
/// does not check out.
fn check_command(
    ctx: &Context,
    args: CheckArgs,
    of_env: ReadOperation,
    of_all: AllOperation,
) -> Result<i32> {
    let env = if args.all || args.read.names.is_empty() {
        ctx.open_if_any()?
    } else {
        Some(ctx.open()?)
    };
    let scope = match env {
        Some(env) if !args.all => return read_command_in(ctx, &env, args.read, of_env),
        Some(env) => cache_entries::CacheScope::of(&env),
        None => cache_entries::CacheScope::outside(
            &ctx.home,
            ctx.settings.caches.clone(),
            &ctx.settings.trusted_keys,
            ctx.settings.http_timeout(),
            Some(ctx.settings.download_timeout()),
            ctx.open_options().reporter,
        ),
    };
    let caches = of_all(&scope, args.read.from.as_deref())?;
    let bad = caches.iter().flat_map(|c| &c.entries).any(|e| e.is_bad());
    print_entries(ctx, args.read.json, &caches)?;
    Ok(if bad { 1 } else { 0 })
}

/// One block per cache: its URL and count, then a line per entry (and what failed under it).
fn print_entries(ctx: &Context, json: bool, caches: &[CacheEntries]) -> Result<()> {
    let mut text = Vec::new();
    for cache in caches {
        let count = cache.entries.len();
        let more = if cache.truncated {
            ", more not listed"
        } else {
            ""
        };
        text.push(format!(
            "{}: {count} entr{}{more}",
            cache.cache,
            if count == 1 { "y" } else { "ies" }
        ));
        for entry in &cache.entries {
            text.push(format!("  {}", entry_line(entry)));
            if let Some(detail) = &entry.detail {
                text.push(format!("    {detail}"));
            }
        }
    }
    outcome::print(ctx, json, serde_json::to_value(caches)?, text.join("\n"))
}

/// `cmath 1.0-1 (Lua 5.4, linux-x86_64): trusted, signed by ci-1, 5123 bytes, key 0c1f2e3d4a5b`.
fn entry_line(entry: &cache_entries::EntryRow) -> String {
    let unknown = || "?".to_string();
    let mut line = format!(
        "{} {}",
        entry.name.clone().unwrap_or_else(unknown),
        entry.version.clone().unwrap_or_else(unknown)
    );
    if let (Some(lua), Some(platform)) = (&entry.lua, &entry.platform) {
        line.push_str(&format!(" (Lua {lua}, {platform})"));
    }
    line.push_str(&format!(": {}", entry.status));
    if let Some(signer) = &entry.signed_by {
        line.push_str(&format!(", signed by {signer}"));
    }
    if let Some(bytes) = entry.bytes {
        line.push_str(&format!(", {bytes} bytes"));
    }
    let short_key: String = entry.store_key.chars().take(12).collect();
    line.push_str(&format!(", key {short_key}"));
    line
}

/// One block per cache: its URL, then a line per package.
fn print_reports(ctx: &Context, json: bool, reports: &[CacheReport]) -> Result<()> {
    let mut text = Vec::new();
    for report in reports {
        text.push(format!("{}:", report.cache));
        if report.packages.is_empty() {
            text.push("  nothing to do".to_string());
        }
        for p in &report.packages {
            let mut line = format!("  {} {}: {}", p.name, p.version, p.status);
            if let Some(bytes) = p.bytes {
                line.push_str(&format!(" ({bytes} bytes)"));
            }
            if let Some(detail) = &p.detail {
                line.push_str(&format!(" ({detail})"));
            }
            text.push(line);
        }
    }
    outcome::print(ctx, json, serde_json::to_value(reports)?, text.join("\n"))
}
