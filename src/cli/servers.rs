//! The rocks-server flags of the commands that fetch packages (`--server`, `--only-server`)
//! and the help text on fetching, shared by install, upgrade, search, make and link.

use anyhow::Result;
use clap::Args;

use lvm::config;
use lvm::ops::install::ServerChoice;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Also use this rocks server, before the configured ones (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Use only this rocks server (repeatable).
    #[arg(long = "only-server", value_name = "URL", conflicts_with = "servers")]
    pub only_servers: Vec<String>,
}

impl ServerArgs {
    pub(super) fn choice(&self) -> Result<ServerChoice> {
        let norm = |list: &[String]| -> Result<Vec<String>> {
            list.iter().map(|s| normalize_server(s)).collect()
        };
        Ok(if !self.only_servers.is_empty() {
            ServerChoice::Only(norm(&self.only_servers)?)
        } else {
            ServerChoice::Extra(norm(&self.servers)?)
        })
    }
}

/// The environment variables that change how packages are fetched (a macro so `concat!` can
/// put it in several help texts).
macro_rules! fetch_environment {
    () => {
        "\
Environment:
  LVM_HTTP_TIMEOUT=SECONDS  how long to wait for a server to connect or to send more data
                            (default: 30 s to connect, 60 s per read)"
    };
}
pub(super) use fetch_environment;

/// Turns a plain folder into a `file://` URL so the config is unambiguous.
pub fn normalize_server(server: &str) -> Result<String> {
    Ok(config::normalize_server(server)?)
}

/// The environment (when one applies) and where to read rocks servers from: its servers and
/// caches, or outside every environment those of the user's settings and the lvm home.
pub(super) fn read_scope(
    ctx: &super::Context,
) -> Result<(Option<lvm::env::Environment>, lvm::ops::search::SearchScope)> {
    use lvm::ops::search::SearchScope;
    Ok(match ctx.open_if_any()? {
        Some(env) => {
            let scope = SearchScope::of(&env);
            (Some(env), scope)
        }
        None => (
            None,
            SearchScope::outside(
                &ctx.home,
                ctx.settings.servers.clone(),
                ctx.settings.http_timeout(),
                Some(ctx.settings.download_timeout()),
                ctx.settings.manifest_max_age(),
                ctx.settings.lua,
            ),
        ),
    })
}
