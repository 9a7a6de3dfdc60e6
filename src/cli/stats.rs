//! `lvm stats`: where time went, per command kind and phase, the store hit rate, the slowest
//! builds and the number of packages after each event.

use anyhow::Result;
use clap::Args;

use super::log::reading_only;
use super::{Context, exit, print_json};
use lvm::ops::stats;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm stats         time per command kind and phase, store hit rate, slowest builds
  lvm stats --json  the same as JSON")]
pub struct StatsArgs {
    /// Print the statistics as a JSON object: events, by_kind (count and total_ms per command
    /// kind), by_phase (milliseconds), store_hits, builds, hit_rate_percent, cache_hits (per
    /// cache URL), cache_bytes, cache_ms, cache_hit_rate_percent, cache_saved_ms_estimate,
    /// slowest_builds and packages_over_time.
    #[arg(long)]
    pub json: bool,
}

/// `lvm stats`: time per command kind and phase, store hit rate, slowest builds, tree growth.
pub fn exec(ctx: &Context, args: StatsArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let stats = stats::environment_stats(&env)?;
    if args.json {
        print_json(&stats)?;
        return Ok(exit::OK);
    }
    println!("{} events", stats.events);
    println!("time per command kind:");
    for (kind, k) in &stats.by_kind {
        println!("  {kind:<16} {:>5} events {:>9} ms", k.count, k.total_ms);
    }
    println!("time per phase:");
    for (phase, ms) in &stats.by_phase {
        println!("  {phase:<16} {ms:>9} ms");
    }
    match stats.hit_rate_percent {
        Some(rate) => println!(
            "store: {} hits, {} builds ({rate}% hit rate)",
            stats.store_hits, stats.builds
        ),
        None => println!("store: nothing installed yet"),
    }
    if let Some(rate) = stats.cache_hit_rate_percent {
        let hits: u64 = stats.cache_hits.values().sum();
        let saved = stats
            .cache_saved_ms_estimate
            .map(|ms| format!(", about {ms} ms of building saved"))
            .unwrap_or_default();
        println!(
            "build caches: {hits} packages ({rate}% of what the store lacked), {} bytes in {} ms{saved}",
            stats.cache_bytes, stats.cache_ms
        );
        for (cache, n) in &stats.cache_hits {
            println!("  {cache}: {n}");
        }
    }
    if !stats.slowest_builds.is_empty() {
        println!("slowest builds:");
        for slow in &stats.slowest_builds {
            println!(
                "  {:>7} ms  {}  {}",
                slow.build_ms,
                &slow.commit[..slow.commit.len().min(10)],
                slow.summary
            );
        }
    }
    let growth: Vec<String> = stats
        .packages_over_time
        .iter()
        .map(|n| n.to_string())
        .collect();
    println!("packages after each event: {}", growth.join(" "));
    Ok(exit::OK)
}
