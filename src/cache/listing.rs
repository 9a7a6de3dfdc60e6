//! What the backends share to list every entry of a cache (`lvm cache list --all`, `verify
//! --all`, through `Cache::list`): the caps on entries, bytes, pages and time, the listing they
//! return, and reading store keys out of object names and HTML directory indexes.

use std::time::Duration;

use super::entry;
use crate::store::StoreKey;

/// The most entries one listing returns; past it the listing says it was cut short.
pub const MAX_LISTED_ENTRIES: usize = 100_000;
/// The largest single listing response read (an HTML index, one S3 page of 1,000 keys).
pub(super) const MAX_LISTING_PAGE_BYTES: u64 = 16 << 20;
/// The most S3 pages read for one listing: two objects per entry, 1,000 keys per page, with
/// room for a bucket prefix shared with other objects.
pub(super) const MAX_LISTING_PAGES: usize = 4 * MAX_LISTED_ENTRIES / 1000;
/// The longest one listing response may take in all.
pub(super) const MAX_LISTING_PAGE_TIME: Duration = Duration::from_secs(60);

/// The store keys a cache holds an `entry.json` for, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub keys: Vec<StoreKey>,
    /// Whether the cache holds more than [`MAX_LISTED_ENTRIES`] (only those are listed).
    pub truncated: bool,
}

impl Listing {
    /// A listing of `keys` as found, sorted, each once, capped at [`MAX_LISTED_ENTRIES`]. Pure.
    pub(super) fn of(mut keys: Vec<StoreKey>, more: bool) -> Listing {
        keys.sort();
        keys.dedup();
        let truncated = more || keys.len() > MAX_LISTED_ENTRIES;
        keys.truncate(MAX_LISTED_ENTRIES);
        Listing { keys, truncated }
    }
}

/// The store key of object `object` when it is the `entry.json` of an entry directly under
/// `dir` (`""` or `prefix/`): `<dir><key>/entry.json`. Pure.
pub(super) fn entry_key_of_object(object: &str, dir: &str) -> Option<StoreKey> {
    let rest = object.strip_prefix(dir)?;
    let key = rest.strip_suffix(&format!("/{}", entry::ENTRY_FILE))?;
    StoreKey::parse(key).ok()
}

/// The store keys an HTML directory index links to (`<a href="KEY/">`, relative or absolute),
/// each once; `None` when `page` is not HTML at all. A hostile index can only name keys, which
/// are then read under the cache's own URL. Pure.
pub(super) fn keys_in_html_index(page: &str) -> Option<Vec<StoreKey>> {
    let lower = page.to_ascii_lowercase();
    if !(lower.contains("<html") || lower.contains("<!doctype html")) {
        return None;
    }
    let mut keys = Vec::new();
    let mut from = 0;
    // Found in the lower-cased copy (`HREF=` too), read from the page: same byte offsets.
    while let Some(at) = lower[from..].find("href=") {
        let rest = &page[from + at + "href=".len()..];
        let (quote, body) = match rest.as_bytes().first() {
            Some(b'"') => ('"', &rest[1..]),
            Some(b'\'') => ('\'', &rest[1..]),
            _ => (' ', rest),
        };
        let end = body.find([quote, '>']).unwrap_or(body.len());
        let path = body[..end].split(['?', '#']).next().unwrap_or("");
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if let Ok(key) = StoreKey::parse(last) {
            keys.push(key);
        }
        from = page.len() - body[end..].len();
    }
    keys.sort();
    keys.dedup();
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn entry_objects_are_told_from_rocks_and_strays() {
        let k = key('a');
        assert_eq!(
            entry_key_of_object(&format!("lvm/{k}/entry.json"), "lvm/"),
            Some(StoreKey::parse(&k).unwrap())
        );
        assert_eq!(
            entry_key_of_object(&format!("{k}/entry.json"), ""),
            Some(StoreKey::parse(&k).unwrap())
        );
        for stray in [
            format!("lvm/{k}/x-1.0-1.all.rock"),
            format!("lvm/deeper/{k}/entry.json"),
            format!("other/{k}/entry.json"),
            "lvm/not-a-key/entry.json".to_string(),
            format!("lvm/{k}/entry.json.tmp"),
        ] {
            assert_eq!(entry_key_of_object(&stray, "lvm/"), None, "{stray}");
        }
    }

    #[test]
    fn html_indexes_of_common_servers_name_their_keys() {
        let (a, b) = (key('a'), key('b'));
        // nginx autoindex, Apache, python3 -m http.server, an absolute link, a query.
        let page = format!(
            "<html><head><title>Index of /lvm/</title></head><body>\n\
             <a href=\"../\">../</a>\n<a href=\"{a}/\">{a}/</a>  07-Dec-2026 14:00  -\n\
             <li><a href='{b}/'>{b}/</a></li>\n<a href=\"/lvm/{a}/\">again</a>\n\
             <a href=\"?C=M;O=A\">Last modified</a><a href={b}/?x>b</a>\n\
             <a href=\"notes.txt\">notes</a><a href=\"{a}x/\">not a key</a></body></html>"
        );
        let keys = keys_in_html_index(&page).unwrap();
        assert_eq!(
            keys,
            [StoreKey::parse(&a).unwrap(), StoreKey::parse(&b).unwrap()]
        );
        let empty = "<!DOCTYPE HTML>\n<html><body><ul>\n</ul></body></html>";
        assert_eq!(keys_in_html_index(empty), Some(vec![]));
        assert_eq!(keys_in_html_index("{\"not\": \"html\"}"), None);
        assert_eq!(keys_in_html_index(""), None);
    }

    #[test]
    fn listings_are_sorted_unique_and_capped() {
        let (a, b) = (
            StoreKey::parse(&key('a')).unwrap(),
            StoreKey::parse(&key('b')).unwrap(),
        );
        let listing = Listing::of(vec![b.clone(), a.clone(), b.clone()], false);
        assert_eq!(listing.keys, [a.clone(), b]);
        assert!(!listing.truncated);
        assert!(Listing::of(vec![a], true).truncated);
    }
}
