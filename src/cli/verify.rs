//! `lvm verify`: checks that the log, manifest.json and the tree agree; with `--repair`,
//! rebuilds what differs from the store.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::ops::verify;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm verify           check; exit 1 on a problem
  lvm verify --repair  rebuild what differs from the store
  lvm verify --json    the report as JSON
  lvm verify --signatures         who signed each event; exit 1 on an unsigned or bad one
  lvm verify --signatures --json  the same as JSON")]
pub struct VerifyArgs {
    /// Rebuild what differs (tree files, working files) from the store.
    #[arg(long)]
    pub repair: bool,
    /// Print the report as a JSON object: events, packages, problems, linked (name and path of
    /// each linked package), repaired, rebuilt_store_entries and remaining (the problems left).
    #[arg(long)]
    pub json: bool,
    /// Check the signature of every event of the profile instead, as `git verify-commit` does
    /// (ssh signatures against git's gpg.ssh.allowedSignersFile): says who signed each one and
    /// reports unsigned and badly signed events.
    #[arg(long, conflicts_with = "repair")]
    pub signatures: bool,
}

pub fn exec(ctx: &Context, args: VerifyArgs) -> Result<i32> {
    let env = ctx.open()?;
    if args.signatures {
        return signatures(&env, args.json);
    }
    let report = verify::verify(&env)?;
    let mut rebuilt = Vec::new();
    let remaining = if args.repair && !report.is_ok() {
        let env = env.lock_only(ctx.lock_timeout)?;
        // Another writer may have changed things while we waited: repair what is broken now.
        let current = verify::verify(&env)?;
        if !current.is_ok() {
            rebuilt = verify::repair(&env, &current)?.rebuilt;
        }
        verify::verify(&env)?.problems
    } else {
        report.problems.clone()
    };
    if args.json {
        print_json(&serde_json::json!({
            "events": report.events,
            "packages": report.packages,
            "problems": report.problems,
            "linked": report.linked.iter().map(|(name, path)| serde_json::json!({"name": name, "path": path})).collect::<Vec<_>>(),
            "repaired": args.repair && !report.is_ok(),
            "rebuilt_store_entries": rebuilt,
            "remaining": remaining,
        }))?;
    } else {
        for (name, path) in &report.linked {
            println!("{name}: linked to {path} (its Lua files are not checked against the store)");
        }
        for p in &report.problems {
            println!("problem: {p}");
        }
        if args.repair && !report.is_ok() {
            for name in &rebuilt {
                println!("rebuilt the store entry of {name}");
            }
            if remaining.is_empty() {
                println!("repaired: the environment now matches its log");
            } else {
                for p in &remaining {
                    println!("still broken: {p}");
                }
            }
        } else if report.is_ok() {
            println!(
                "ok: {} replay to manifest.json; {}, every tree file matches the store",
                super::outcome::counted(report.events, "event"),
                super::outcome::counted(report.packages, "package")
            );
        }
    }
    Ok(if remaining.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// `lvm verify --signatures`: one line per event (its status, commit, subject, and who signed
/// it or why it is not accepted), then the counts; exit 1 unless every event is signed well.
fn signatures(env: &lvm::env::Environment, as_json: bool) -> Result<i32> {
    use lvm::envrepo::signing::SignatureCheck as Check;
    let report = verify::signatures(env)?;
    let status = |check: &Check| match check {
        Check::Good { .. } => "good",
        Check::Unsigned => "unsigned",
        Check::UnknownKey { .. } => "unknown_key",
        Check::Bad { .. } => "bad",
        Check::Unchecked { .. } => "unchecked",
    };
    if as_json {
        let events: Vec<_> = report
            .events
            .iter()
            .map(|e| {
                let mut value = serde_json::json!({
                    "commit": e.commit.to_string(),
                    "summary": e.summary,
                    "status": status(&e.check),
                });
                match &e.check {
                    Check::Good { signer, key } => {
                        value["signer"] = signer.clone().into();
                        value["key"] = key.clone().into();
                    }
                    Check::UnknownKey { key } => value["key"] = key.clone().into(),
                    Check::Bad { reason } | Check::Unchecked { reason } => {
                        value["reason"] = reason.clone().into()
                    }
                    Check::Unsigned => {}
                }
                value
            })
            .collect();
        print_json(&serde_json::json!({
            "signing": report.signing,
            "ok": report.is_ok(),
            "events": events,
        }))?;
    } else {
        for e in &report.events {
            let what = match &e.check {
                Check::Good { signer, key } => format!("signed by {signer} ({key})"),
                Check::Unsigned => "not signed".to_string(),
                Check::UnknownKey { key } => format!(
                    "signed with {key}, which is not in git's allowed signers (gpg.ssh.allowedSignersFile)"
                ),
                Check::Bad { reason } => format!(
                    "BAD signature: the commit changed after it was signed, or the signature is damaged ({reason})"
                ),
                Check::Unchecked { reason } => format!("cannot be checked: {reason}"),
            };
            println!(
                "{:<11} {} {}: {what}",
                status(&e.check),
                lvm::envrepo::short(e.commit),
                e.summary
            );
        }
        let count = |s: &str| {
            report
                .events
                .iter()
                .filter(|e| status(&e.check) == s)
                .count()
        };
        println!(
            "{} events: {} signed well, {} unsigned, {} bad, {} by unknown keys, {} unchecked{}",
            report.events.len(),
            count("good"),
            count("unsigned"),
            count("bad"),
            count("unknown_key"),
            count("unchecked"),
            if report.signing {
                ""
            } else {
                " (signing is off: `lvm config set sign true`)"
            }
        );
    }
    Ok(if report.is_ok() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
