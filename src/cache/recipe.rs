//! A recipe record: a signed note in a cache, addressed by everything a store key covers except
//! the source bytes, that names the source digest its signer built from, the store key it got and
//! (format 1.1 on) that entry's metadata. It lets an install form the store key without
//! downloading the source, and fetch the entry's rock without reading its `entry.json`
//! (`docs/cache.md`).

use serde::{Deserialize, Serialize};

use super::entry::{self, EntryError, EntryMeta};
use super::keys::{PublicKey, SecretKey};
use crate::format_version::{Format, FormatVersion};
use crate::store::StoreKey;

/// The recipe record layouts this lvm writes and reads: 1.1 folds in the entry's metadata
/// (`entry`), which readers of 1.0 ignore.
pub const RECIPE_FORMAT: Format = Format {
    name: "cache recipe record format",
    writes: FormatVersion::new(1, 1, 0),
    reads: "^1",
};
/// What a recipe record's signature covers: this domain tag, then the metadata's exact JSON,
/// so an entry's signature can never pass for a record's or the other way round.
const SIGNED_PREFIX: &[u8] = b"lvm-cache-recipe-v1\n";

/// The address of a recipe: a sha256 over the rockspec, where the source is downloaded from,
/// the Lua version, the platform and the build settings (see `ops::install::prepare`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecipeKey(String);

impl RecipeKey {
    /// The key of these named inputs (the store key's hash, under another name). Pure.
    pub fn compute(inputs: &[(&str, &str)]) -> RecipeKey {
        RecipeKey(StoreKey::compute(inputs).to_string())
    }

    /// A key as written in a store entry's metadata; `None` unless it is one.
    pub fn parse(text: &str) -> Option<RecipeKey> {
        StoreKey::parse(text).ok().map(|k| RecipeKey(k.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RecipeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a recipe record says; all of it is covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeMeta {
    pub format: FormatVersion,
    /// The recipe the record stands for.
    pub recipe: RecipeKey,
    /// The store key the signer's build got, whose entry the cache holds.
    pub key: StoreKey,
    pub name: String,
    pub version: String,
    /// The sha256 of the source archive (or rock) the signer built from; empty for a checkout.
    #[serde(default)]
    pub source_sha256: String,
    /// The commit the signer's git source was checked out at; empty for an archive.
    #[serde(default)]
    pub source_commit: String,
    /// The metadata of the entry under `key`, the same the signer put in its `entry.json`:
    /// with it an install downloads the rock right away, one request fewer per package.
    /// Absent from records written before format 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryMeta>,
}

/// A recipe record whose signature checked out, with the name of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRecipe {
    pub meta: RecipeMeta,
    pub signed_by: String,
}

/// The object name of the record for `recipe`: beside the entries, under `recipes/`.
pub fn recipe_object(recipe: &RecipeKey) -> String {
    format!("recipes/{recipe}.json")
}

/// The record for `meta`, signed with `key`. Deterministic, as entries are.
pub fn seal(meta: &RecipeMeta, key: &SecretKey) -> Vec<u8> {
    entry::seal_json(SIGNED_PREFIX, meta, key)
}

/// The metadata of a recipe record (`shown` names it in errors) once its signature by one of
/// `trusted` verifies, it is of a format this lvm reads, stands for `wanted`, names a source
/// digest and, when it folds in an entry's metadata, that metadata passes the checks of an
/// `entry.json` for the store key the record names.
pub fn open(
    bytes: &[u8],
    shown: &str,
    wanted: &RecipeKey,
    trusted: &[PublicKey],
) -> Result<OpenedRecipe, EntryError> {
    let (meta, signed_by): (RecipeMeta, String) =
        entry::open_json(bytes, shown, SIGNED_PREFIX, &RECIPE_FORMAT, trusted)?;
    if meta.recipe != *wanted {
        return Err(EntryError::WrongKey {
            entry: shown.to_string(),
            found: format!("recipe {}", meta.recipe),
            wanted: format!("recipe {wanted}"),
        });
    }
    if meta.source_sha256.is_empty() && meta.source_commit.is_empty() {
        return Err(EntryError::Malformed {
            entry: shown.to_string(),
            problem: "it names neither a source sha256 nor a commit".to_string(),
        });
    }
    if let Some(folded) = &meta.entry {
        entry::check_meta(folded, shown, &meta.key)?;
    }
    Ok(OpenedRecipe { meta, signed_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(recipe: &RecipeKey) -> RecipeMeta {
        RecipeMeta {
            format: RECIPE_FORMAT.writes,
            recipe: recipe.clone(),
            key: StoreKey::compute(&[("lua", "5.4")]),
            name: "foo".into(),
            version: "1.0-1".into(),
            source_sha256: crate::digest::sha256_bytes(b"archive"),
            source_commit: String::new(),
            entry: None,
        }
    }

    /// [`meta`] with the metadata of its entry folded in.
    fn folded(recipe: &RecipeKey) -> RecipeMeta {
        let mut meta = meta(recipe);
        meta.entry = Some(EntryMeta {
            format: entry::ENTRY_FORMAT.writes,
            key: meta.key.clone(),
            name: "foo".into(),
            version: "1.0-1".into(),
            lua: "5.4".into(),
            platform: "linux-x86_64".into(),
            rock: entry::RockFile {
                file: "foo-1.0-1.linux-x86_64.rock".into(),
                sha256: crate::digest::sha256_bytes(b"rock"),
                size: 4,
            },
            files: [("lua/foo.lua".to_string(), crate::digest::sha256_bytes(b"x"))].into(),
            extra: Default::default(),
        });
        meta
    }

    #[test]
    fn a_folded_entry_is_signed_with_the_record_and_checked_as_an_entry() {
        let recipe = RecipeKey::compute(&[("rockspec", "a")]);
        let signer = SecretKey::generate("team").unwrap();
        let bytes = seal(&folded(&recipe), &signer);
        let opened = open(&bytes, "r", &recipe, &[signer.public()]).unwrap();
        assert_eq!(opened.meta, folded(&recipe));
        // A folded rock hash changed under the signature: the record no longer verifies.
        let text = String::from_utf8(bytes).unwrap();
        let rock_sha = crate::digest::sha256_bytes(b"rock");
        let changed = text.replace(&rock_sha, &crate::digest::sha256_bytes(b"evil"));
        assert_ne!(changed, text);
        let err = open(changed.as_bytes(), "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::BadSignature { .. }), "{err}");
        // Signed, but the folded entry is of another store key than the record names.
        let mut other = folded(&recipe);
        other.entry.as_mut().unwrap().key = StoreKey::compute(&[("lua", "5.1")]);
        let err = open(&seal(&other, &signer), "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::WrongKey { .. }), "{err}");
        // Signed, but its rock file would step out of the entry's folder.
        let mut escaping = folded(&recipe);
        escaping.entry.as_mut().unwrap().rock.file = "../x.rock".into();
        let err = open(&seal(&escaping, &signer), "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(
            err.to_string().contains("is not NAME-VERSION.ARCH.rock"),
            "{err}"
        );
    }

    #[test]
    fn records_of_format_1_0_still_open_without_a_folded_entry() {
        // The exact text an lvm of format 1.0 signed: no `entry`.
        let recipe = RecipeKey::compute(&[("rockspec", "a")]);
        let signer = SecretKey::generate("team").unwrap();
        let mut old = serde_json::to_value(meta(&recipe)).unwrap();
        old["format"] = "1.0.0".into();
        assert!(old.get("entry").is_none());
        let bytes = entry::seal_json(SIGNED_PREFIX, &old, &signer);
        let opened = open(&bytes, "r", &recipe, &[signer.public()]).unwrap();
        assert_eq!(opened.meta.entry, None);
        assert_eq!(opened.meta.source_sha256, meta(&recipe).source_sha256);
    }

    #[test]
    fn a_sealed_record_opens_only_with_a_trusted_key_and_for_its_own_recipe() {
        let recipe = RecipeKey::compute(&[("rockspec", "a")]);
        let other = RecipeKey::compute(&[("rockspec", "b")]);
        let signer = SecretKey::generate("team").unwrap();
        let bytes = seal(&meta(&recipe), &signer);
        let opened = open(&bytes, "r", &recipe, &[signer.public()]).unwrap();
        assert_eq!(
            (opened.meta, opened.signed_by.as_str()),
            (meta(&recipe), "team")
        );
        let stranger = SecretKey::generate("other").unwrap();
        let err = open(&bytes, "r", &recipe, &[stranger.public()]).unwrap_err();
        assert!(matches!(err, EntryError::Untrusted { .. }), "{err}");
        let err = open(&bytes, "r", &other, &[signer.public()]).unwrap_err();
        assert!(err.to_string().contains("it is the entry of"), "{err}");
        // One changed byte of the signed text breaks the signature.
        let text = String::from_utf8(bytes).unwrap();
        let changed = text.replace("1.0-1", "1.0-2");
        let err = open(changed.as_bytes(), "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn an_entry_signature_does_not_pass_for_a_record() {
        // The same JSON signed as an entry: the domain tags differ, so the signature fails.
        let recipe = RecipeKey::compute(&[("rockspec", "a")]);
        let signer = SecretKey::generate("team").unwrap();
        let as_entry = entry::seal_json(b"lvm-cache-entry-v1\n", &meta(&recipe), &signer);
        let err = open(&as_entry, "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn a_record_must_name_a_source() {
        let recipe = RecipeKey::compute(&[("rockspec", "a")]);
        let signer = SecretKey::generate("team").unwrap();
        let mut empty = meta(&recipe);
        empty.source_sha256.clear();
        let err = open(&seal(&empty, &signer), "r", &recipe, &[signer.public()]).unwrap_err();
        assert!(err.to_string().contains("neither a source sha256"), "{err}");
    }
}
