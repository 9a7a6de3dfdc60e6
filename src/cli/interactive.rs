//! `lvm setup --interactive` and `lvm install --interactive`: a terminal checklist of packages
//! (the curated collections, or search results) with what is installed ticked. The checklist is
//! the wanted state of the packages it lists, and the difference is applied as one event:
//! ticked packages that are missing are installed, unticked packages that were requested are no
//! longer requested (and go unless another package needs them). Packages installed only as a
//! dependency stay when unticked, since removing them would break what needs them; left ticked
//! while something is released, they become requested, so they stay even when what needed them
//! goes.
//!
//! Building the checklist and reading the picks back are pure functions; the terminal part is a
//! thin shell around dialoguer's `MultiSelect`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::Result;
use dialoguer::MultiSelect;
use dialoguer::console::Term;

use super::{Context, exit};
use lvm::curator::{self, Catalog};
use lvm::events::EventKind;
use lvm::manifest::Manifest;
use lvm::ops::install::{self, ServerChoice, Target};
use lvm::ops::search::{self, SearchHit, SearchScope, Summaries};
use lvm::version::{Constraints, Dependency};

/// The event argument that marks a change made through the checklist.
pub const FLAG: &str = "--interactive";

/// At most this many summaries are fetched from the servers (one rockspec download per
/// package would make a broad search crawl); installed packages' summaries are read from the
/// tree.
const SUMMARY_FETCH_LIMIT: usize = 60;

/// What the keys do, from the longest wording to the shortest; the header takes the longest
/// that fits on one line.
const KEY_HINTS: [&str; 3] = [
    "(up/down move, space ticks, enter applies, esc cancels)",
    "(space ticks, enter applies, esc cancels)",
    "(space, enter, esc)",
];

/// What dialoguer adds after the header when the list has pages (` [Page 10/12] `).
const PAGE_INFO_WIDTH: usize = 14;

/// What the checklist shows about one package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackageFacts {
    pub name: String,
    /// The category of the most important curated collection listing it.
    pub category: Option<String>,
    /// Every curated collection listing it, most important first.
    pub collections: Vec<String>,
    /// The curated rationale (from the most important collection).
    pub rationale: Option<String>,
    /// The newest version a server publishes (search results).
    pub newest: Option<String>,
    /// The constraint a pick installs with (the curated one for collection members).
    pub constraint: Constraints,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub label: String,
    /// Ticked when the checklist opens: the package is installed.
    pub ticked: bool,
    /// What a pick installs.
    pub install: Dependency,
}

/// What the user's picks change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picks {
    /// Ticked and not installed.
    pub add: Vec<Dependency>,
    /// Unticked and requested: no longer requested.
    pub release: Vec<String>,
    /// Unticked but installed only as a dependency, with what needs them: they stay.
    pub kept: Vec<(String, Vec<String>)>,
    /// Ticked and installed only as a dependency: requested along with a release, so what the
    /// checklist shows ticked is still there afterwards.
    pub keep: Vec<Dependency>,
}

impl Picks {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.release.is_empty()
    }
}

/// Every package of the curated collections, once, in collection priority order.
pub fn curated_facts(catalog: &Catalog) -> Vec<PackageFacts> {
    let mut out: Vec<PackageFacts> = Vec::new();
    for collection in catalog.collections_by_priority() {
        for member in &collection.packages {
            if let Some(seen) = out.iter_mut().find(|f| f.name == member.name) {
                seen.collections.push(collection.name.clone());
                continue;
            }
            out.push(PackageFacts {
                name: member.name.clone(),
                category: Some(collection.category.clone()),
                collections: vec![collection.name.clone()],
                rationale: Some(member.rationale.clone()),
                newest: None,
                constraint: catalog.curated_constraint(&member.name),
            });
        }
    }
    out
}

/// Search results, each package once, with the curated category and rationale of those that
/// are curated. Picks install the newest version (as `lvm install NAME` does).
pub fn search_facts(hits: &[SearchHit], catalog: &Catalog) -> Vec<PackageFacts> {
    let curated = curated_facts(catalog);
    let mut seen = std::collections::BTreeSet::new();
    hits.iter()
        .filter(|hit| seen.insert(hit.name.as_str()))
        .map(|hit| {
            let mut facts = curated
                .iter()
                .find(|f| f.name == hit.name)
                .cloned()
                .unwrap_or_else(|| PackageFacts {
                    name: hit.name.clone(),
                    ..PackageFacts::default()
                });
            facts.constraint = Constraints::any();
            facts.newest = hit.versions.first().cloned();
            facts
        })
        .collect()
}

/// The checklist: one item per package, its label fitting in `width` columns, ticked when
/// installed. `summaries` are the packages' own one-line descriptions where known.
pub fn items(
    facts: &[PackageFacts],
    installed: &Manifest,
    summaries: &BTreeMap<String, String>,
    width: usize,
) -> Vec<Item> {
    let name_width = facts.iter().map(|f| f.name.len()).max().unwrap_or(0);
    facts
        .iter()
        .map(|f| {
            let package = installed.packages.get(&f.name);
            let version = match (package, &f.newest) {
                (Some(p), _) => format!("installed {}", p.version),
                (None, Some(v)) => v.clone(),
                (None, None) => String::new(),
            };
            let mut parts = vec![format!("{:<name_width$}", f.name)];
            if !version.is_empty() {
                parts.push(format!("({version})"));
            }
            if let Some(category) = &f.category {
                let where_ = if f.collections.iter().all(|c| c == category) {
                    category.clone()
                } else {
                    format!("{category}: {}", f.collections.join(", "))
                };
                parts.push(format!("[{where_}]"));
            }
            if let Some(r) = &f.rationale {
                parts.push(r.clone());
            }
            if let Some(s) = summaries.get(&f.name) {
                parts.push(format!("— {s}"));
            }
            Item {
                name: f.name.clone(),
                // dialoguer counts a label's bytes to know how many lines it took.
                label: fit_within(&parts.join("  "), width, width + 6),
                ticked: package.is_some(),
                install: Dependency {
                    name: f.name.clone(),
                    constraints: f.constraint.clone(),
                },
            }
        })
        .collect()
}

/// Cuts `text` to `width` characters, marking the cut with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
    fit_within(text, width, usize::MAX)
}

/// Cuts `text` to `width` characters and `bytes` bytes of UTF-8, marking the cut with an
/// ellipsis.
pub fn fit_within(text: &str, width: usize, bytes: usize) -> String {
    if text.chars().count() <= width && text.len() <= bytes {
        return text.to_string();
    }
    let mut out = String::new();
    let room = bytes.saturating_sub('…'.len_utf8());
    for c in text.chars().take(width.saturating_sub(1)) {
        if out.len() + c.len_utf8() > room {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The checklist's header on one line of `width` columns (a header that wraps would be drawn
/// again at each key): `title` with the longest key hint that fits, else `title` cut to fit.
pub fn header(title: &str, width: usize) -> String {
    KEY_HINTS
        .iter()
        .map(|hint| format!("{title} {hint}"))
        .find(|h| h.chars().count() <= width)
        .unwrap_or_else(|| fit(title, width))
}

/// Compares the ticked items (`picked`, indexes into `items`) with what is installed now.
pub fn picks(items: &[Item], picked: &[usize], installed: &Manifest) -> Picks {
    let mut out = Picks::default();
    for (i, item) in items.iter().enumerate() {
        let ticked = picked.contains(&i);
        match (ticked, installed.packages.get(&item.name)) {
            (true, None) => out.add.push(item.install.clone()),
            (false, Some(p)) if p.reason.requested.is_some() => out.release.push(item.name.clone()),
            (false, Some(p)) => out
                .kept
                .push((item.name.clone(), p.reason.required_by.clone())),
            (true, Some(p)) if p.reason.requested.is_none() => out.keep.push(item.install.clone()),
            _ => {}
        }
    }
    if out.release.is_empty() {
        out.keep.clear();
    }
    out
}

/// What the event installs: the additions, and the kept dependencies a release could orphan.
pub fn targets(picks: &Picks) -> Vec<Target> {
    picks
        .add
        .iter()
        .chain(&picks.keep)
        .cloned()
        .map(Target::Package)
        .collect()
}

/// The event's arguments: the flag, then what was added (as `lvm install` would take it).
pub fn event_args(picks: &Picks) -> Vec<String> {
    std::iter::once(FLAG.to_string())
        .chain(picks.add.iter().map(curator::data::dependency_text))
        .collect()
}

/// Fails with a usage error when there is no terminal to draw the checklist on, instead of
/// waiting for keys that never come.
pub fn require_terminal(instead: &str) -> Option<i32> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        return None;
    }
    eprintln!(
        "error: --interactive needs a terminal (stdin and stderr must be one); pass package names instead: {instead}"
    );
    Some(exit::USAGE)
}

/// A profile `lvm setup PROFILE --interactive` sets up: its name, and whether for production.
pub struct ProfileSetup<'a> {
    pub name: &'a str,
    pub prod: bool,
}

/// `lvm setup [PROFILE] --interactive`: the curated collections' packages. With a profile, its
/// packages are ticked too, and the picks are applied on its profile branch as a setup of it.
pub fn setup(ctx: &Context, choice: &ServerChoice, profile: Option<ProfileSetup>) -> Result<i32> {
    let env = ctx.open()?;
    let catalog = curator::load_catalog(&env)?;
    let plan = match &profile {
        Some(p) => catalog
            .plan(p.name, false)?
            .into_iter()
            .filter(|planned| !(p.prod && planned.dev))
            .collect(),
        None => Vec::new(),
    };
    let facts = with_planned(curated_facts(&catalog), &plan);
    if facts.is_empty() {
        anyhow::bail!("the curated collections list no packages (see `lvm collections`)");
    }
    // A profile branch that exists is what the picks change; a new one starts from the current.
    let installed = match &profile {
        Some(p) => profile_manifest(&env, p.name)?,
        None => env.manifest()?,
    };
    let wanted =
        |name: &str| !installed.packages.contains_key(name) && facts.iter().any(|f| f.name == name);
    let summaries = Summaries {
        limit: SUMMARY_FETCH_LIMIT,
        wanted: &wanted,
    };
    let hits = search::search(&SearchScope::of(&env), "", choice, summaries)?;
    let title = match &profile {
        Some(p) => format!(
            "Profile '{}'{}: its packages ticked",
            p.name,
            if p.prod { " (production)" } else { "" }
        ),
        None => format!("Curated packages for profile '{}'", env.profile()?),
    };
    let pretick: Vec<String> = plan.iter().map(|p| p.name.clone()).collect();
    let shown = Shown {
        facts: &facts,
        hits: &hits,
        installed: &installed,
        title: &title,
        pretick: &pretick,
    };
    let apply = match &profile {
        Some(p) => Apply::OnProfile {
            name: p.name,
            prod: p.prod,
        },
        None => Apply::Here(EventKind::Setup),
    };
    run(ctx, &env, &shown, choice, apply)
}

/// The curated facts with the profile's packages added (those outside every collection) and
/// each planned package installing with the profile's constraint.
pub fn with_planned(
    mut facts: Vec<PackageFacts>,
    plan: &[curator::PlannedPackage],
) -> Vec<PackageFacts> {
    for planned in plan {
        match facts.iter_mut().find(|f| f.name == planned.name) {
            Some(f) => f.constraint = planned.version.clone(),
            None => facts.push(PackageFacts {
                name: planned.name.clone(),
                rationale: Some(format!("in {}", planned.via.join(", "))),
                constraint: planned.version.clone(),
                ..PackageFacts::default()
            }),
        }
    }
    facts
}

/// Ticks the items named in `names` (a profile's packages), beside the installed ones.
pub fn pretick(items: &mut [Item], names: &[String]) {
    for item in items.iter_mut() {
        if names.contains(&item.name) {
            item.ticked = true;
        }
    }
}

/// The state of the profile branch `profile`, or the current one when the branch does not
/// exist yet (setting it up creates it from the current profile).
fn profile_manifest(env: &lvm::env::Environment, profile: &str) -> Result<Manifest> {
    match env.repo().try_profile_head(profile) {
        Some(head) => {
            let bytes = env.repo().read_file(head, lvm::envrepo::MANIFEST_FILE)?;
            Ok(Manifest::from_bytes(&bytes, lvm::envrepo::MANIFEST_FILE)?)
        }
        None => Ok(env.manifest()?),
    }
}

/// `lvm install --interactive [TERM]`: checks the terminal first, then the arguments (at most
/// one search term) and the servers.
pub fn install_command(
    ctx: &Context,
    args: &[String],
    choice: impl FnOnce() -> Result<ServerChoice>,
) -> Result<i32> {
    if let Some(code) = require_terminal("`lvm install NAME...`") {
        return Ok(code);
    }
    let term = match args {
        [] => "",
        [term] => term.as_str(),
        _ => {
            eprintln!(
                "error: --interactive takes one search term, not {} arguments (e.g. `lvm install --interactive json`)",
                args.len()
            );
            return Ok(exit::USAGE);
        }
    };
    install(ctx, term, &choice()?)
}

/// `lvm install --interactive [TERM]`: search results for TERM.
pub fn install(ctx: &Context, term: &str, choice: &ServerChoice) -> Result<i32> {
    let env = ctx.open()?;
    let catalog = curator::load_catalog(&env)?;
    let installed = env.manifest()?;
    let wanted = |name: &str| !installed.packages.contains_key(name);
    let summaries = Summaries {
        limit: SUMMARY_FETCH_LIMIT,
        wanted: &wanted,
    };
    let hits = search::search(&SearchScope::of(&env), term, choice, summaries)?;
    if hits.is_empty() {
        eprintln!("No package matches '{term}' (see `lvm search`)");
        return Ok(exit::FAILURE);
    }
    let facts = search_facts(&hits, &catalog);
    let title = format!("Packages matching '{term}'");
    let shown = Shown {
        facts: &facts,
        hits: &hits,
        installed: &installed,
        title: &title,
        pretick: &[],
    };
    run(ctx, &env, &shown, choice, Apply::Here(EventKind::Install))
}

/// What the checklist shows.
struct Shown<'a> {
    facts: &'a [PackageFacts],
    /// The search results the facts came from, with the summaries read from the servers.
    hits: &'a [SearchHit],
    /// What is installed as the checklist opens.
    installed: &'a Manifest,
    /// The header, before the key hint.
    title: &'a str,
    /// Packages ticked when the checklist opens even if not installed (a profile's).
    pretick: &'a [String],
}

/// Where the picks go.
enum Apply<'a> {
    /// One event of this kind on the current profile.
    Here(EventKind),
    /// A setup of this profile, on its profile branch.
    OnProfile { name: &'a str, prod: bool },
}

fn run(
    ctx: &Context,
    env: &lvm::env::Environment,
    shown: &Shown,
    choice: &ServerChoice,
    apply: Apply,
) -> Result<i32> {
    let term = Term::stderr();
    let (rows, columns) = term.size();
    // "> [x] " comes before each label; one column is left so the line never wraps.
    let width = usize::from(columns).saturating_sub(7).max(20);
    let summaries = summaries(env, shown);
    let mut list = items(shown.facts, shown.installed, &summaries, width);
    pretick(&mut list, shown.pretick);
    let defaults: Vec<bool> = list.iter().map(|i| i.ticked).collect();
    let rows = usize::from(rows).saturating_sub(3).max(3);
    // dialoguer adds a colon to the header, and the page when the list does not fit.
    let paged = list.len() > rows;
    let header_width = usize::from(columns)
        .saturating_sub(2 + if paged { PAGE_INFO_WIDTH } else { 0 })
        .max(20);
    let prompt = header(shown.title, header_width);
    let chosen = MultiSelect::new()
        .with_prompt(prompt)
        .items(list.iter().map(|i| i.label.as_str()))
        .defaults(&defaults)
        .max_length(rows)
        .report(false)
        .interact_on_opt(&term);
    let picked = match chosen {
        Ok(Some(p)) => p,
        Ok(None) => {
            eprintln!("Cancelled; nothing changed.");
            return Ok(exit::OK);
        }
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            let _ = term.show_cursor();
            eprintln!("Cancelled; nothing changed.");
            return Ok(exit::FAILURE);
        }
        Err(e) => anyhow::bail!("the checklist failed on the terminal: {e}"),
    };
    // The lock is taken only now, so a checklist left open does not block other lvm commands;
    // the picks are compared with the state as it is once the lock is held.
    let env = env.lock(ctx.lock_timeout)?;
    let (kind, prefix) = match apply {
        Apply::Here(kind) => (kind, Vec::new()),
        Apply::OnProfile { name, prod } => {
            let (moved, done) =
                curator::setup::on_profile_branch(&env, name, "the checklist's picks", |env| {
                    apply_picks(
                        env,
                        &list,
                        &picked,
                        choice,
                        &curator::setup::event_args(name, prod),
                        EventKind::Setup,
                    )
                })?;
            if !ctx.quiet {
                if moved.created_branch {
                    println!("Created profile '{name}'");
                }
                if let Some(from) = &moved.switched_from {
                    println!("Switched from profile '{from}' to '{name}'");
                }
            }
            report_applied(ctx, &done);
            return Ok(exit::OK);
        }
    };
    let done = apply_picks(&env, &list, &picked, choice, &prefix, kind).map_err(|e| *e)?;
    report_applied(ctx, &done);
    Ok(exit::OK)
}

/// Compares the picks with the state once the lock is held and applies the difference as one
/// event (`prefix` first among its arguments); the picks and what the change did, if anything.
fn apply_picks(
    env: &lvm::env::WriteLock<'_>,
    list: &[Item],
    picked: &[usize],
    choice: &ServerChoice,
    prefix: &[String],
    kind: EventKind,
) -> Result<(Picks, Option<install::Outcome>), Box<lvm::ops::Error>> {
    let current = env.manifest().map_err(|e| Box::new(e.into()))?;
    let picks = picks(list, picked, &current);
    if picks.is_empty() {
        return Ok((picks, None));
    }
    let args: Vec<String> = prefix.iter().cloned().chain(event_args(&picks)).collect();
    let outcome = install::install_with(
        env,
        &targets(&picks),
        &picks.release,
        choice,
        &args,
        kind,
        Default::default(),
    )
    .map_err(Box::new)?;
    Ok((picks, Some(outcome)))
}

/// What applying the picks did.
fn report_applied(ctx: &Context, (picks, outcome): &(Picks, Option<install::Outcome>)) {
    if !ctx.quiet {
        match outcome {
            None => println!("Nothing to do: the checklist matches what is installed"),
            Some(outcome) => {
                let done = if picks.release.is_empty() {
                    "Installed"
                } else {
                    "Changed"
                };
                let headline = super::outcome::headline(
                    outcome,
                    done,
                    &super::outcome::nothing_installed(outcome),
                );
                println!("{}", super::outcome::text(outcome, &headline));
            }
        }
    }
    report_kept(ctx, picks);
}

fn report_kept(ctx: &Context, picks: &Picks) {
    if ctx.quiet {
        return;
    }
    for (name, needed_by) in &picks.kept {
        println!(
            "Kept {name}: installed as a dependency of {}",
            needed_by.join(", ")
        );
    }
}

/// The packages' own summaries: from the installed rockspec, else the one the search read
/// from the rockspec of the newest version a server publishes. A summary that cannot be read
/// is left out.
fn summaries(env: &lvm::env::Environment, shown: &Shown) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in shown.facts {
        let summary = match shown.installed.packages.get(&f.name) {
            Some(p) => {
                let tree = env.tree_path();
                lvm::tree::rockfiles::installed_info(&tree, env.lua(), &f.name, &p.version).summary
            }
            None => shown
                .hits
                .iter()
                .find(|h| h.name == f.name)
                .and_then(|h| h.summary.clone()),
        };
        if let Some(s) = summary {
            out.insert(
                f.name.clone(),
                s.split_whitespace().collect::<Vec<_>>().join(" "),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvm::manifest::{Package, PackageSource, Reason};

    const DATA: &str = r#"
[collection.core]
category = "core"
priority = 1
summary = "Everyday"
[[collection.core.packages]]
name = "inspect"
version = ">= 3.1"
rationale = "Readable dumps"
[[collection.core.packages]]
name = "penlight"
rationale = "Batteries"

[collection.testing]
category = "testing"
priority = 4
summary = "Tests"
[[collection.testing.packages]]
name = "busted"
rationale = "The test runner"
[[collection.testing.packages]]
name = "penlight"
version = ">= 1.13"
rationale = "Needed by busted"
"#;

    fn catalog() -> Catalog {
        Catalog::from_layers(&[vec![("t.toml".into(), DATA.into())]]).unwrap()
    }

    fn manifest(packages: &[(&str, &str, Option<&str>, &[&str])]) -> Manifest {
        let mut m = Manifest::empty("5.4");
        for (name, version, requested, required_by) in packages {
            let p = Package {
                version: lvm::version::Version::parse(version).unwrap(),
                reason: Reason {
                    requested: requested.map(str::to_string),
                    required_by: required_by.iter().map(|s| s.to_string()).collect(),
                },
                source: PackageSource::Server {
                    server: "file:///srv".into(),
                    rockspec_sha256: "ab".into(),
                    url: String::new(),
                    sha256: None,
                    commit: None,
                },
                dependencies: vec![],
                store_key: "k".into(),
                files_sha256: "f".into(),
            };
            m.packages.insert(name.to_string(), p);
        }
        m
    }

    #[test]
    fn curated_items_show_category_rationale_summary_and_tick_installed() {
        let installed = manifest(&[("penlight", "1.14.0-1", Some(""), &[])]);
        let summaries = BTreeMap::from([("penlight".to_string(), "Lua utilities".to_string())]);
        let list = items(&curated_facts(&catalog()), &installed, &summaries, 200);
        let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["inspect", "penlight", "busted"]);
        assert_eq!(
            list[1].label,
            "penlight  (installed 1.14.0-1)  [core: core, testing]  Batteries  — Lua utilities"
        );
        assert_eq!(list[0].label, "inspect   [core]  Readable dumps");
        assert_eq!(list[2].label, "busted    [testing]  The test runner");
        let ticked: Vec<bool> = list.iter().map(|i| i.ticked).collect();
        assert_eq!(ticked, [false, true, false]);
        // A pick installs with every curated constraint.
        assert_eq!(list[0].install.constraints.to_string(), ">= 3.1");
        assert_eq!(list[1].install.constraints.to_string(), ">= 1.13");
    }

    #[test]
    fn search_items_carry_curated_facts_and_the_newest_version() {
        let hits = vec![
            SearchHit {
                name: "dkjson".into(),
                versions: vec!["2.6-1".into()],
                servers: vec!["file:///s".into()],
                summary: None,
            },
            SearchHit {
                name: "inspect".into(),
                versions: vec!["3.1.3-1".into(), "3.1.2-1".into()],
                servers: vec!["file:///s".into(), "file:///t".into()],
                summary: Some("Human-readable representations of tables".into()),
            },
        ];
        let list = items(
            &search_facts(&hits, &catalog()),
            &Manifest::empty("5.4"),
            &BTreeMap::new(),
            200,
        );
        assert_eq!(list[0].label, "dkjson   (2.6-1)");
        assert_eq!(list[1].label, "inspect  (3.1.3-1)  [core]  Readable dumps");
        assert!(list[1].install.constraints.is_any());
        assert!(list.iter().all(|i| !i.ticked));
    }

    #[test]
    fn labels_fit_the_terminal() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        // Both in characters and in bytes (what dialoguer measures).
        assert_eq!(fit_within("für für", 9, 8), "für …");
        assert!(fit_within("ééééééé", 20, 10).len() <= 10);
        let list = items(
            &curated_facts(&catalog()),
            &Manifest::empty("5.4"),
            &BTreeMap::new(),
            12,
        );
        assert!(
            list.iter().all(|i| i.label.chars().count() <= 12),
            "{list:?}"
        );
    }

    #[test]
    fn the_header_takes_the_longest_key_hint_that_fits_on_one_line() {
        let title = "Packages matching 'json'";
        assert_eq!(
            header(title, 200),
            "Packages matching 'json' (up/down move, space ticks, enter applies, esc cancels)"
        );
        assert_eq!(
            header(title, 78),
            "Packages matching 'json' (space ticks, enter applies, esc cancels)"
        );
        assert_eq!(
            header(title, 50),
            "Packages matching 'json' (space, enter, esc)"
        );
        assert_eq!(header(title, 20), "Packages matching '…");
        for width in 10..120 {
            assert!(header(title, width).chars().count() <= width);
        }
    }

    #[test]
    fn picks_are_the_difference_with_what_is_installed() {
        let installed = manifest(&[
            ("penlight", "1.14.0-1", Some(""), &[]),
            ("inspect", "3.1.3-1", None, &["penlight"]),
        ]);
        let list = items(
            &curated_facts(&catalog()),
            &installed,
            &BTreeMap::new(),
            200,
        );
        // Untick everything installed, tick busted.
        let p = picks(&list, &[2], &installed);
        assert_eq!(
            p.add.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["busted"]
        );
        assert_eq!(p.release, ["penlight"]);
        assert_eq!(
            p.kept,
            [("inspect".to_string(), vec!["penlight".to_string()])]
        );
        assert!(p.keep.is_empty());
        assert_eq!(event_args(&p), ["--interactive", "busted"]);
        // Releasing penlight while inspect, its dependency, stays ticked: inspect is requested.
        let p = picks(&list, &[0], &installed);
        assert_eq!(p.release, ["penlight"]);
        assert_eq!(
            p.keep.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["inspect"]
        );
        assert_eq!(targets(&p).len(), 1);
        // Without a release, a ticked dependency is left as it is.
        assert!(picks(&list, &[0, 1, 2], &installed).keep.is_empty());
        // Leaving the ticks as they were changes nothing.
        let same: Vec<usize> = (0..list.len()).filter(|i| list[*i].ticked).collect();
        assert!(picks(&list, &same, &installed).is_empty());
    }
}
