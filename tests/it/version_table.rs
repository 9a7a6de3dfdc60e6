//! Table-driven checks of `lvm::version` against LuaRocks: every fixture row states what
//! LuaRocks decides, lvm must decide the same, and (where `lua5.4` and Debian's LuaRocks are
//! installed) LuaRocks itself is asked to confirm every row.

use std::path::Path;

use crate::common::versions::{
    describe_pair_code, expected_dependency, expected_match, fixture_path, flag, oracle, pair_code,
    read_tsv, request, v,
};
use lvm::version::{Constraints, Dependency, Op, Version, VersionError};

const SHARED_ORDER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/luarocks-version-order.tsv"
);

/// Rows (a, b, eq, lt) of an order table; the shared file has a header row to drop.
fn order_rows(path: &Path) -> Vec<Vec<String>> {
    read_tsv(path, 4)
        .into_iter()
        .filter(|r| !(r[0] == "a" && r[1] == "b"))
        .collect()
}

fn check_order_row(row: &[String]) {
    let (a, b) = (v(&row[0]), v(&row[1]));
    let (eq, lt) = (flag(&row[2]), flag(&row[3]));
    assert_eq!(a.luarocks_eq(&b), eq, "{a} == {b}");
    assert_eq!(a.luarocks_lt(&b), lt, "{a} < {b}");
    assert_eq!(a.luarocks_le(&b), !b.luarocks_lt(&a), "{a} <= {b}");
    // The total order refines LuaRocks' <.
    if lt {
        assert!(a < b, "Ord must put {a} before {b}");
    }
    if eq {
        assert!(
            !a.luarocks_lt(&b) && !b.luarocks_lt(&a),
            "{a} == {b} but ordered"
        );
    }
}

#[test]
fn order_table() {
    let rows = order_rows(&fixture_path("order.tsv"));
    assert!(rows.len() >= 40, "order.tsv has only {} cases", rows.len());
    for row in &rows {
        check_order_row(row);
    }
}

#[test]
#[cfg_attr(
    not(lvm_has_shared_version_order),
    ignore = "needs ../shared/data/luarocks-version-order.tsv beside the checkout, and build.rs did not find it"
)]
fn shared_luarocks_order_facts() {
    let path = Path::new(SHARED_ORDER);
    assert!(
        path.is_file(),
        "{SHARED_ORDER} is absent; this test needs it"
    );
    let rows = order_rows(path);
    assert!(!rows.is_empty(), "{SHARED_ORDER} has no cases");
    for row in &rows {
        check_order_row(row);
    }
}

fn match_verdict(version: &str, constraints: &str) -> Option<bool> {
    Constraints::parse(constraints)
        .ok()
        .map(|c| c.matches(&v(version)))
}

#[test]
fn match_table() {
    let rows = read_tsv(&fixture_path("match.tsv"), 3);
    assert!(rows.len() >= 40, "match.tsv has only {} cases", rows.len());
    for row in &rows {
        let expected = match row[2].as_str() {
            "ERR" => None,
            other => Some(flag(other)),
        };
        assert_eq!(
            match_verdict(&row[0], &row[1]),
            expected,
            "{} against {:?}",
            row[0],
            row[1]
        );
    }
}

fn dependency_outcome(input: &str) -> Option<(String, String)> {
    Dependency::parse(input)
        .ok()
        .map(|d| (d.name.clone(), d.constraints.to_string()))
}

#[test]
fn dependency_table() {
    for row in read_tsv(&fixture_path("deps.tsv"), 3) {
        let expected = (row[1] != "ERR").then(|| (row[1].clone(), row[2].clone()));
        assert_eq!(dependency_outcome(&row[0]), expected, "{:?}", row[0]);
    }
}

#[test]
fn operators_and_no_upgrade_flag() {
    let parsed = Constraints::parse("@1.0, = 2, != 3, ~= 4, >5, <=6, ~>7").expect("parses");
    let ops: Vec<(Op, bool)> = parsed.0.iter().map(|c| (c.op, c.no_upgrade)).collect();
    assert_eq!(
        ops,
        [
            (Op::Eq, true),
            (Op::Eq, false),
            (Op::Ne, false),
            (Op::Ne, false),
            (Op::Gt, false),
            (Op::Le, false),
            (Op::Pessimistic, false)
        ]
    );
    assert_eq!(
        parsed.to_string(),
        "@1.0, == 2, ~= 3, ~= 4, > 5, <= 6, ~> 7"
    );
    assert!(Constraints::parse("").expect("parses").is_any());
}

#[test]
fn rejections_say_what_is_wrong() {
    assert!(matches!(
        Constraints::parse("=> 1.0"),
        Err(VersionError::BadOperator { op, .. }) if op == "=>"
    ));
    assert!(matches!(
        Constraints::parse(">= 1.0, <"),
        Err(VersionError::MissingVersion(_))
    ));
    assert_eq!(Version::parse("  "), Err(VersionError::Empty));
    assert!(matches!(
        Version::parse("1.0+build"),
        Err(VersionError::BadVersion(_, rest)) if rest == "+build"
    ));
    // LuaRocks' trimming pattern leaves trailing whitespace in, then warns about it.
    assert!(matches!(
        Version::parse("1.0 "),
        Err(VersionError::BadVersion(_, rest)) if rest == " "
    ));
    assert!(matches!(
        Version::parse("1.0-99999999999999999999999"),
        Err(VersionError::RevisionTooLarge(_))
    ));
    assert!(matches!(
        Dependency::parse("a/b/c"),
        Err(VersionError::BadDependency(_))
    ));
}

#[test]
fn text_revision_and_upstream() {
    let x = v(" \t1.13.1-3");
    assert_eq!(x.as_str(), "1.13.1-3");
    assert_eq!(x.revision(), Some(3));
    assert_eq!(x.upstream(), "1.13.1");
    let y = v("2.0-beta3");
    assert_eq!((y.revision(), y.upstream()), (None, "2.0-beta3"));
    assert!(v("scm-1").is_development() && v("dev-1").is_development());
    assert!(!v("1.0-1").is_development());
}

/// Every fixture row, asked of LuaRocks itself: the expectations above are LuaRocks' verdicts.
#[test]
#[cfg_attr(
    not(all(lvm_has_lua54, lvm_has_luarocks_modules)),
    ignore = "needs lua5.4 and LuaRocks' modules, and build.rs did not find them"
)]
fn fixtures_agree_with_luarocks() {
    let oracle = oracle();
    let mut order = order_rows(&fixture_path("order.tsv"));
    if Path::new(SHARED_ORDER).is_file() {
        order.extend(order_rows(Path::new(SHARED_ORDER)));
    }
    let matches = read_tsv(&fixture_path("match.tsv"), 3);
    let deps = read_tsv(&fixture_path("deps.tsv"), 3);
    let requests: Vec<String> = order
        .iter()
        .map(|r| request("P", &[&r[0], &r[1]]))
        .chain(matches.iter().map(|r| request("M", &[&r[0], &r[1]])))
        .chain(deps.iter().map(|r| request("D", &[&r[0]])))
        .collect();
    let answers = oracle.lines(&requests);
    let (order_answers, rest) = answers.split_at(order.len());
    let (match_answers, dep_answers) = rest.split_at(matches.len());

    for (row, answer) in order.iter().zip(order_answers) {
        let code = answer.chars().next().expect("one character");
        let rust = pair_code(&v(&row[0]), &v(&row[1]));
        assert_eq!(
            rust,
            code,
            "{} vs {}: lvm {} / LuaRocks {}",
            row[0],
            row[1],
            describe_pair_code(rust),
            describe_pair_code(code)
        );
        let luarocks_eq_lt = (code as u8 - b'A') >> 2 & 0b11;
        let fixture_eq_lt = u8::from(flag(&row[2])) << 1 | u8::from(flag(&row[3]));
        assert_eq!(luarocks_eq_lt, fixture_eq_lt, "fixture row {row:?}");
    }
    for (row, answer) in matches.iter().zip(match_answers) {
        let expected = expected_match(answer);
        let fixture = (row[2] != "ERR").then(|| flag(&row[2]));
        assert_eq!(
            fixture, expected,
            "fixture row {row:?}, LuaRocks {answer:?}"
        );
        assert_eq!(match_verdict(&row[0], &row[1]), expected, "row {row:?}");
    }
    for (row, answer) in deps.iter().zip(dep_answers) {
        let expected = expected_dependency(&row[0], answer);
        let fixture = (row[1] != "ERR").then(|| (row[1].clone(), row[2].clone()));
        assert_eq!(
            fixture, expected,
            "fixture row {row:?}, LuaRocks {answer:?}"
        );
        assert_eq!(dependency_outcome(&row[0]), expected, "row {row:?}");
    }
}
