//! Properties of `lvm::version` over generated LuaRocks-shaped strings, and differential runs
//! that compare lvm with LuaRocks itself (Debian's modules under `lua5.4`) on thousands of
//! generated versions, constraints and dependency strings.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};

use crate::common::versions::{
    constraint, constraints_string, dependency_string, describe_pair_code, expected_dependency,
    expected_match, fixture_path, messy_version_string, oracle, pair_code, request, sample, v,
    version, version_string,
};
use lvm::version::{Constraint, Constraints, Dependency, Op, Version};
use proptest::prelude::*;

/// A version and a close relative of it, so that ties, revisions and padding get exercised
/// (independent random versions are almost never equal).
fn related_pair() -> impl Strategy<Value = (Version, Version)> {
    let edits = proptest::sample::select(
        &[
            "", ".0", ".0.0", "-1", "-2", "-10", ".1", "rc1", "alpha", "beta2", "a", "_0", ".",
        ][..],
    );
    (version_string(), edits, proptest::bool::ANY).prop_map(|(s, edit, strip_revision)| {
        let base = if strip_revision {
            v(&s).upstream().to_string()
        } else {
            s
        };
        let other = format!("{base}{edit}");
        // An edit can make the text something else entirely ("1-2" + ".0"); both stay valid.
        (v(&base), v(&other))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_versions_parse(s in version_string()) {
        prop_assert!(Version::parse(&s).is_ok(), "{s:?} should parse");
    }

    #[test]
    fn ord_is_antisymmetric_and_consistent_with_eq((a, b) in related_pair()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        prop_assert_eq!(a == b, a.as_str() == b.as_str());
        if a == b {
            let hasher = RandomState::new();
            prop_assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
        }
    }

    #[test]
    fn ord_refines_luarocks_lt((a, b) in related_pair()) {
        if a.luarocks_lt(&b) {
            prop_assert!(a < b, "LuaRocks says {a} < {b}, Ord disagrees");
        }
        if b.luarocks_lt(&a) {
            prop_assert!(b < a, "LuaRocks says {b} < {a}, Ord disagrees");
        }
        prop_assert!(!(a.luarocks_lt(&b) && b.luarocks_lt(&a)), "{a} and {b} both below");
        prop_assert!(!a.luarocks_lt(&a));
        if a.luarocks_eq(&b) {
            prop_assert!(!a.luarocks_lt(&b) && !b.luarocks_lt(&a), "{a} == {b} yet ordered");
            prop_assert!(b.luarocks_eq(&a));
        }
    }

    /// Sorting with `Ord` never puts a version after one LuaRocks considers greater, which also
    /// checks transitivity of both orders over every triple of the list.
    #[test]
    fn sorted_lists_respect_both_orders(
        mut list in proptest::collection::vec(version(), 2..10),
        (x, y) in related_pair(),
    ) {
        list.push(x);
        list.push(y);
        list.sort();
        for i in 0..list.len() {
            for j in i + 1..list.len() {
                prop_assert!(list[i] <= list[j]);
                prop_assert!(!list[j].luarocks_lt(&list[i]), "{} sorted before {}", list[i], list[j]);
                for k in j + 1..list.len() {
                    let (a, b, c) = (&list[i], &list[j], &list[k]);
                    if a.luarocks_lt(b) && b.luarocks_lt(c) {
                        prop_assert!(a.luarocks_lt(c), "LuaRocks' < not transitive on {a}, {b}, {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn luarocks_le_is_consistent((a, b) in related_pair()) {
        prop_assert_eq!(a.luarocks_le(&b), !b.luarocks_lt(&a));
        prop_assert!(a.luarocks_le(&b) || b.luarocks_le(&a));
        if a.luarocks_lt(&b) {
            prop_assert!(a.luarocks_le(&b));
        }
        if a.luarocks_eq(&b) {
            prop_assert!(a.luarocks_le(&b) && b.luarocks_le(&a));
        }
        prop_assert!(a.luarocks_le(&a));
    }

    #[test]
    fn version_display_round_trips(s in version_string()) {
        let a = v(&s);
        let again = Version::parse(&a.to_string()).expect("displayed version parses");
        prop_assert_eq!(&again, &a);
        prop_assert!(again.luarocks_eq(&a));
        prop_assert_eq!(again.to_string(), s);
        let json = serde_json::to_string(&a).expect("serializes");
        prop_assert_eq!(serde_json::from_str::<Version>(&json).expect("deserializes"), a);
    }

    #[test]
    fn constraints_display_round_trips(list in proptest::collection::vec(constraint(), 0..4)) {
        let constraints = Constraints(list);
        let text = constraints.to_string();
        prop_assert_eq!(&Constraints::parse(&text).expect("displayed constraints parse"), &constraints);
        let dep = Dependency { name: "some-rock".into(), constraints };
        prop_assert_eq!(Dependency::parse(&dep.to_string()).expect("displayed dependency parses"), dep);
    }

    #[test]
    fn complementary_operators(x in version(), c in version()) {
        let matches = |op| Constraint { op, version: c.clone(), no_upgrade: false }.matches(&x);
        prop_assert_eq!(matches(Op::Ge), !matches(Op::Lt), "{} vs {}", x, c);
        prop_assert_eq!(matches(Op::Gt), !matches(Op::Le), "{} vs {}", x, c);
        prop_assert_eq!(matches(Op::Eq), !matches(Op::Ne), "{} vs {}", x, c);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,24}") {
        let _ = Version::parse(&s);
        let _ = Constraints::parse(&s);
        let _ = Dependency::parse(&s);
    }
}

/// Corpus, generated versions and close relatives of them, compared pairwise by LuaRocks and
/// by lvm on every verdict (`==`, `<`, `<=`, `>`, `~>`).
#[test]
#[cfg_attr(
    not(all(lvm_has_lua54, lvm_has_luarocks_modules)),
    ignore = "needs lua5.4 and LuaRocks' modules, and build.rs did not find them"
)]
fn generated_versions_agree_with_luarocks_pairwise() {
    let oracle = oracle();
    let corpus = std::fs::read_to_string(fixture_path("corpus.txt")).expect("corpus.txt");
    let mut versions: BTreeSet<String> = corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for (a, b) in sample(related_pair(), 150) {
        versions.insert(a.to_string());
        versions.insert(b.to_string());
    }
    versions.extend(sample(version_string(), 60));
    let versions: Vec<String> = versions.into_iter().collect();
    let parsed: Vec<Version> = versions.iter().map(|s| v(s)).collect();
    let table = oracle.pairs(&versions);
    let mut mismatches = Vec::new();
    for (i, row) in table.iter().enumerate() {
        assert_eq!(row.len(), parsed.len(), "row for {}", versions[i]);
        for (j, &code) in row.iter().enumerate() {
            let ours = pair_code(&parsed[i], &parsed[j]);
            if ours != code {
                mismatches.push(format!(
                    "{} vs {}: lvm {} / LuaRocks {}",
                    versions[i],
                    versions[j],
                    describe_pair_code(ours),
                    describe_pair_code(code)
                ));
            }
        }
    }
    assert!(
        versions.len() >= 200,
        "only {} distinct versions",
        versions.len()
    );
    assert!(
        mismatches.is_empty(),
        "{}",
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

/// lvm accepts a string exactly when LuaRocks parses it without a warning (the empty version
/// aside), and then agrees with LuaRocks on every pair of accepted strings.
#[test]
#[cfg_attr(
    not(all(lvm_has_lua54, lvm_has_luarocks_modules)),
    ignore = "needs lua5.4 and LuaRocks' modules, and build.rs did not find them"
)]
fn messy_strings_are_accepted_exactly_when_luarocks_parses_them() {
    let oracle = oracle();
    let strings: Vec<String> = sample(messy_version_string(), 1500)
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let requests: Vec<String> = strings.iter().map(|s| request("V", &[s])).collect();
    let answers = oracle.lines(&requests);
    let mut accepted = Vec::new();
    for (s, answer) in strings.iter().zip(&answers) {
        let blank = s
            .trim_start_matches([' ', '\t', '\n', '\u{0b}', '\u{0c}', '\r'])
            .is_empty();
        let luarocks_clean = answer == "ok" && !blank;
        let ours = Version::parse(s);
        assert_eq!(
            ours.is_ok(),
            luarocks_clean,
            "{s:?}: LuaRocks {answer}, lvm {ours:?}"
        );
        if let Ok(parsed) = ours {
            accepted.push((s.clone(), parsed));
        }
    }
    assert!(
        accepted.len() > 100 && accepted.len() < strings.len() - 100,
        "generator should produce both kinds: {} of {} accepted",
        accepted.len(),
        strings.len()
    );
    accepted.truncate(250);
    let texts: Vec<String> = accepted.iter().map(|(s, _)| s.clone()).collect();
    for (i, row) in oracle.pairs(&texts).iter().enumerate() {
        for (j, &code) in row.iter().enumerate() {
            let ours = pair_code(&accepted[i].1, &accepted[j].1);
            assert_eq!(
                ours,
                code,
                "{:?} vs {:?}: lvm {} / LuaRocks {}",
                texts[i],
                texts[j],
                describe_pair_code(ours),
                describe_pair_code(code)
            );
        }
    }
}

/// Generated constraint strings (valid and not) against generated versions: lvm matches where
/// LuaRocks matches and rejects where LuaRocks fails or warns.
#[test]
#[cfg_attr(
    not(all(lvm_has_lua54, lvm_has_luarocks_modules)),
    ignore = "needs lua5.4 and LuaRocks' modules, and build.rs did not find them"
)]
fn generated_constraints_agree_with_luarocks() {
    let oracle = oracle();
    let cases: Vec<(String, String)> = sample((version_string(), constraints_string()), 1500);
    let requests: Vec<String> = cases.iter().map(|(x, c)| request("M", &[x, c])).collect();
    let answers = oracle.lines(&requests);
    let mut verdicts = [0usize; 3];
    for ((x, c), answer) in cases.iter().zip(&answers) {
        let expected = expected_match(answer);
        let ours = Constraints::parse(c).map(|parsed| parsed.matches(&v(x)));
        assert_eq!(
            ours.clone().ok(),
            expected,
            "{x} against {c:?}: lvm {ours:?}, LuaRocks {answer}"
        );
        verdicts[match expected {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        }] += 1;
    }
    assert!(
        verdicts.iter().all(|&n| n > 50),
        "generator should exercise matches, non-matches and rejections: {verdicts:?}"
    );
}

/// Generated dependency strings: lvm reads the same name and constraints as LuaRocks, and
/// rejects what LuaRocks rejects or silently truncates.
#[test]
#[cfg_attr(
    not(all(lvm_has_lua54, lvm_has_luarocks_modules)),
    ignore = "needs lua5.4 and LuaRocks' modules, and build.rs did not find them"
)]
fn generated_dependencies_agree_with_luarocks() {
    let oracle = oracle();
    let inputs = sample(dependency_string(), 1500);
    let requests: Vec<String> = inputs.iter().map(|d| request("D", &[d])).collect();
    let answers = oracle.lines(&requests);
    let (mut accepted, mut namespaced) = (0, 0);
    for (input, answer) in inputs.iter().zip(&answers) {
        let expected = expected_dependency(input, answer);
        let ours = Dependency::parse(input).map(|d| (d.name.clone(), d.constraints.to_string()));
        assert_eq!(
            ours.clone().ok(),
            expected,
            "{input:?}: lvm {ours:?}, LuaRocks {answer:?}"
        );
        if let Some((name, _)) = expected {
            accepted += 1;
            namespaced += usize::from(name.contains('/'));
        }
    }
    assert!(
        accepted > 200 && accepted < inputs.len() - 200 && namespaced > 20,
        "generator should produce plain, namespaced and rejected names: {accepted} accepted, \
         {namespaced} namespaced of {}",
        inputs.len()
    );
}
