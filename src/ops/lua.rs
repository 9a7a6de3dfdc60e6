//! Changing the Lua of an environment (`lvm config set lua 5.1`) or giving a new profile another
//! Lua (`lvm profile create jit --lua luajit`): the requested packages re-resolved and rebuilt
//! for the new Lua and recorded with the new setting as one event, or refused by name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use git2::Oid;

use crate::config::EnvConfig;
use crate::env::{ChangePlan, Environment, WriteLock};
use crate::events::{Event, EventKind};
use crate::luaversion::LuaVersion;
use crate::manifest::{self, Change, Manifest};
use crate::ops::install::prepare::build_target_state;
use crate::ops::install::resolution::{preferred_versions, request_for_lua};
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::{Error, Result};
use crate::resolve;

/// A state of `from`'s requested packages for another Lua.
pub struct Relua {
    pub target: Manifest,
    /// The settings with the new Lua (a chosen interpreter of the old Lua is dropped).
    pub config: EnvConfig,
    pub store_hits: u32,
    pub builds: u32,
    pub timings: BTreeMap<String, u64>,
}

/// Resolves and builds `from`'s requested packages (keeping their versions where they fit)
/// for `lua`, run with `lua_bin` when given. Refuses, naming them, when some requested
/// packages have no version for `lua`.
pub fn state_for(
    env: &Environment,
    from: &Manifest,
    config: &EnvConfig,
    lua: LuaVersion,
    lua_bin: Option<&Path>,
) -> Result<Relua> {
    let mut timings = BTreeMap::new();
    let started = Instant::now();
    let interpreter = env.resolve_interpreter(lua, lua_bin)?;
    let session = Session::open_for(env, &ServerChoice::default(), &interpreter)?;
    // Nothing installed is kept as built: every build is for the old Lua.
    let empty = Manifest::empty(lua);
    let candidates = session.candidates(&empty);
    let requested = from.requested();
    let request = request_for_lua(
        &requested,
        preferred_versions(from, &Default::default()),
        lua,
    )?;
    let resolution = match resolve::resolve(&candidates, &request) {
        Ok(r) => r,
        Err(whole) => {
            // Which requested packages cannot be had for `lua` on their own, for the message.
            let mut blocked = Vec::new();
            for (name, constraint) in &requested {
                let one = BTreeMap::from([(name.clone(), constraint.clone())]);
                let alone = request_for_lua(&one, BTreeMap::new(), lua)?;
                if resolve::resolve(&candidates, &alone).is_err() {
                    blocked.push(format!("{name} {constraint}").trim().to_string());
                }
            }
            return Err(Error::NoVersionForLua {
                lua,
                from: from.lua.clone(),
                blocked,
                cause: Box::new(session.explain_failure(whole.into())),
            });
        }
    };
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    let (target, hits, builds) = build_target_state(
        &session,
        &candidates,
        &empty,
        &resolution,
        &requested,
        &mut timings,
    )?;
    let mut config = config.clone();
    config.lua = lua;
    config.lua_bin = interpreter
        .bin
        .filter(|_| interpreter.source == crate::interpreter::Source::Chosen);
    Ok(Relua {
        target,
        config,
        store_hits: hits,
        builds,
        timings,
    })
}

/// What changing the environment's Lua did.
#[derive(Debug)]
pub struct LuaChange {
    /// `None` when the environment already was for that Lua.
    pub commit: Option<Oid>,
    pub from: String,
    pub to: LuaVersion,
    pub changes: Vec<Change>,
    pub store_hits: u32,
    pub builds: u32,
}

/// Moves the current profile to Lua `lua` (run with `lua_bin` when given): its packages
/// rebuilt for it and the setting changed, as one `config` event.
pub fn change(env: &WriteLock<'_>, lua: LuaVersion, lua_bin: Option<&Path>) -> Result<LuaChange> {
    let current = env.manifest()?;
    // The recorded `lua` is being replaced, so a bad value there does not stop the change (the
    // state says which Lua the packages are built for), nor counts as already `lua`.
    let recorded = env.recorded_config_without(crate::config::Key::Lua)?;
    let already = env.recorded_config().is_ok_and(|c| c.lua == lua);
    if already && lua_bin.is_none() {
        return Ok(LuaChange {
            commit: None,
            from: current.lua.clone(),
            to: lua,
            changes: vec![],
            store_hits: 0,
            builds: 0,
        });
    }
    let relua = state_for(env, &current, &recorded, lua, lua_bin)?;
    let changes = manifest::diff(&current, &relua.target);
    let mut details = BTreeMap::new();
    details.insert("key".to_string(), "lua".to_string());
    details.insert("value".to_string(), lua.to_string());
    details.insert("from".to_string(), current.lua.clone());
    let commit = env.record_with_config(
        EventKind::Config,
        vec!["set".into(), "lua".into(), lua.to_string()],
        relua.target,
        Some(&relua.config),
        details,
        relua.timings,
        (relua.store_hits, relua.builds),
    )?;
    Ok(LuaChange {
        commit,
        from: current.lua,
        to: lua,
        changes,
        store_hits: relua.store_hits,
        builds: relua.builds,
    })
}

/// Creates profile `name` from the state at `at` (of profile `source`) for Lua `lua`: one
/// `profile-create` event whose state has the packages rebuilt for it and whose settings say
/// `lua`. The current profile and the tree stay as they are.
pub fn create_profile(
    env: &WriteLock<'_>,
    name: &str,
    source: &str,
    at: Oid,
    lua: LuaVersion,
    lua_bin: Option<&Path>,
) -> Result<Oid> {
    let from = env.repo().manifest_at(at)?;
    let config = env.config_at(at)?;
    let relua = state_for(env, &from, &config, lua, lua_bin)?;
    let mut event = Event::new(
        EventKind::ProfileCreate,
        vec![name.to_string(), "--lua".into(), lua.to_string()],
        manifest::diff(&from, &relua.target),
    );
    event.details.insert("from".into(), source.to_string());
    if from.lua != relua.target.lua {
        event.lua = Some(lua);
    }
    event.store_hits = relua.store_hits;
    event.builds = relua.builds;
    let plan = ChangePlan {
        profile: name.to_string(),
        expected: None,
        parent: at,
        extra_parent: None,
        event,
        target: &relua.target,
        switch_to: false,
        delete: None,
    };
    let mut timings = relua.timings;
    Ok(env.apply_with_config(plan, Some(&relua.config), &mut timings)?)
}
