//! `lvm doctor`: checks the environment's health; each problem comes with the command that
//! fixes it.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::curator::{self, DoctorOptions, Severity};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm doctor            every problem with the command that fixes it; exit 1 on an error
  lvm doctor --offline  without reading the rocks servers
  lvm doctor --json     the report as JSON")]
pub struct DoctorArgs {
    /// Print the report as a JSON object: healthy, errors, packages, modules_loaded and findings
    /// (each with severity, check, package, reason and fix).
    #[arg(long)]
    pub json: bool,
    /// Do not read the rocks servers (skips the check for newer versions).
    #[arg(long)]
    pub offline: bool,
}

pub fn exec(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    let env = ctx.open()?;
    let report = curator::doctor(
        &env,
        &DoctorOptions {
            offline: args.offline,
        },
    );
    let code = if report.is_healthy() {
        exit::OK
    } else {
        exit::FAILURE
    };
    if args.json {
        print_json(&serde_json::json!({
            "healthy": report.is_healthy(),
            "errors": report.errors(),
            "packages": report.packages,
            "modules_loaded": report.modules_loaded,
            "findings": report.findings,
        }))?;
        return Ok(code);
    }
    for f in &report.findings {
        let subject = f
            .package
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        println!(
            "{} [{}{subject}] {}",
            f.severity.as_str(),
            f.check,
            f.reason
        );
        if let Some(fix) = &f.fix {
            println!("    fix: {fix}");
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    println!(
        "{}: {} packages, {} modules load; {} errors, {} warnings, {} notes",
        if report.is_healthy() {
            "healthy"
        } else {
            "unhealthy"
        },
        report.packages,
        report.modules_loaded,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note)
    );
    Ok(code)
}
