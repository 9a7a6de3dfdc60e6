//! "Did you mean" hints: the known name closest to a mistyped one, by edit distance, for every
//! message that refuses an unknown name (setting keys, curated collections and profiles).

/// The known name closest to `word` within a small edit distance (at most 2 edits, or a third
/// of the known name's length for long names); of equally close names, the first in sort order.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .filter(|(distance, k)| *distance <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// `; did you mean 'NAME'?` naming the closest known name, or nothing when none is close.
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    closest(word, known)
        .map(|name| format!("; did you mean '{name}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 5] = ["lua", "servers", "lock_timeout", "jobs", "color"];

    #[test]
    fn close_names_are_suggested() {
        assert_eq!(closest("sever", &KEYS), Some("servers"));
        assert_eq!(closest("colour", &KEYS), Some("color"));
        assert_eq!(closest("job", &KEYS), Some("jobs"));
        assert_eq!(closest("jobz", &KEYS), Some("jobs"));
        assert_eq!(closest("lock-timeout", &KEYS), Some("lock_timeout"));
        assert_eq!(
            closest("standrd", &["minimal", "standard"]),
            Some("standard")
        );
        assert_eq!(
            did_you_mean("priorty", &["name", "priority"]),
            "; did you mean 'priority'?"
        );
    }

    #[test]
    fn far_names_get_no_suggestion() {
        assert_eq!(closest("packages", &KEYS), None);
        assert_eq!(closest("x", &[]), None);
        assert_eq!(did_you_mean("networkingstack", &["testing"]), "");
        // Three edits are too many for a short name but not for a long one.
        assert_eq!(closest("jxxx", &["jobs"]), None);
        assert_eq!(closest("lock_tmeoutt_", &KEYS), Some("lock_timeout"));
    }

    #[test]
    fn ties_go_to_the_first_in_sort_order_and_characters_count_once() {
        assert_eq!(closest("bat", &["cat", "bag", "bad"]), Some("bad"));
        // One edit each by characters (by bytes, "äx" would be closer).
        assert_eq!(closest("ä", &["b", "äx"]), Some("b"));
    }
}
