//! The resolver request of a change: the requested packages with their constraints, the
//! environment's Lua, and the installed versions to keep when they still fit.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::Environment;
use crate::luaversion::LuaVersion;
use crate::manifest::Manifest;
use crate::ops::Result;
use crate::ops::install::candidates::Candidates;
use crate::resolve::{self, Request};
use crate::version::{Constraints, Dependency, Version};

/// Resolves `requested` from `current`; each rockspec fetched ahead of the resolver is
/// handed to `fetched` as it arrives (see [`Candidates::prefetch_rockspecs`]).
pub(in crate::ops) fn resolve_requested(
    candidates: &Candidates<'_>,
    current: &Manifest,
    requested: &BTreeMap<String, String>,
    env: &Environment,
    fetched: &(dyn Fn(&str, &Version) + Sync),
) -> Result<resolve::Resolution> {
    let request = request_for(
        requested,
        preferred_versions(current, &BTreeSet::new()),
        env,
    )?;
    // The resolver asks for rockspecs one by one; fetching the likely ones side by side first
    // turns a request per package into one round of requests per level of the closure.
    let mut skip: BTreeSet<String> = request.provided.keys().cloned().collect();
    skip.insert("lua".to_string());
    candidates.prefetch_rockspecs(
        &request.requirements,
        &skip,
        request.allow_development,
        fetched,
    );
    Ok(resolve::resolve(candidates, &request)?)
}

/// The installed versions the resolver should keep, except for `except`.
pub(in crate::ops) fn preferred_versions(
    current: &Manifest,
    except: &BTreeSet<String>,
) -> BTreeMap<String, Version> {
    current
        .packages
        .iter()
        .filter(|(n, _)| !except.contains(*n))
        .map(|(n, p)| (n.clone(), p.version.clone()))
        .collect()
}

/// A resolver request for the requested packages (name → constraint text).
pub(in crate::ops) fn request_for(
    requested: &BTreeMap<String, String>,
    preferred: BTreeMap<String, Version>,
    env: &Environment,
) -> Result<Request> {
    let mut request = request_for_lua(requested, preferred, env.lua())?;
    // `--dev` (the dev setting) lets development versions win, as with `luarocks --dev`;
    // without it they are picked only when asked for or when nothing else fits.
    request.allow_development = env.config().dev.unwrap_or(false);
    Ok(request)
}

/// [`request_for`] in an environment of Lua `lua`.
pub(in crate::ops) fn request_for_lua(
    requested: &BTreeMap<String, String>,
    preferred: BTreeMap<String, Version>,
    lua: LuaVersion,
) -> Result<Request> {
    let mut requirements = Vec::new();
    for (name, constraint) in requested {
        requirements.push(Dependency {
            name: name.clone(),
            constraints: Constraints::parse(constraint)?,
        });
    }
    Ok(Request::for_lua(lua, requirements, preferred)?)
}
