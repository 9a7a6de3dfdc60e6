//! Tags of an environment's repository: plain git tags (`refs/tags/NAME`; `refs/lvm/tags/NAME` in a
//! project, see [`super::Place`]) naming an event, so
//! a state can be named once and used wherever a revision is; shared through remotes.

use std::collections::BTreeMap;

use git2::Oid;

use super::{EnvRepo, RepoError, is_plain_ref_name};

/// One tag: its name and the commit it names (an annotated tag made by git is peeled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub commit: Oid,
}

impl EnvRepo {
    /// The tags under `namespace` (`refs/tags/` or a remote's copy), by name.
    fn tags_in(&self, namespace: &str) -> Result<BTreeMap<String, Oid>, RepoError> {
        let mut out = BTreeMap::new();
        let refs = self
            .git()?
            .references_glob(&format!("{namespace}*"))
            .map_err(|e| self.git_err(e))?;
        for reference in refs {
            let reference = reference.map_err(|e| self.git_err(e))?;
            let Some(name) = reference
                .name()
                .ok()
                .and_then(|n| n.strip_prefix(namespace))
            else {
                continue;
            };
            let name = name.to_string();
            // A tag that names no commit (a tag of a tree or blob made by hand) is no state.
            if let Ok(commit) = reference.peel_to_commit() {
                out.insert(name, commit.id());
            }
        }
        Ok(out)
    }

    /// The environment's tags, sorted by name.
    pub fn tags(&self) -> Result<Vec<Tag>, RepoError> {
        Ok(self
            .tags_in(self.place.tags_prefix())?
            .into_iter()
            .map(|(name, commit)| Tag { name, commit })
            .collect())
    }

    /// The tags a remote had at the last fetch, by name.
    pub fn remote_tags(&self, remote: &str) -> Result<BTreeMap<String, Oid>, RepoError> {
        self.tags_in(&self.place.remote_tags_prefix(remote))
    }

    /// Tags `commit` as `name`; an existing tag of that name is an error, never moved.
    pub fn create_tag(&self, name: &str, commit: Oid) -> Result<(), RepoError> {
        check_tag_name(name)?;
        if self.try_profile_head(name).is_some() {
            return Err(RepoError::TagIsProfile { name: name.into() });
        }
        if let Some(existing) = self.tags_in(self.place.tags_prefix())?.get(name) {
            return Err(RepoError::TagExists {
                name: name.into(),
                commit: super::short(*existing),
            });
        }
        self.git()?
            .reference(
                &format!("{}{name}", self.place.tags_prefix()),
                commit,
                false,
                &format!("lvm tag {name}"),
            )
            .map_err(|e| self.git_err(e))?;
        Ok(())
    }

    /// Deletes tag `name`; returns the commit it named.
    pub fn delete_tag(&self, name: &str) -> Result<Oid, RepoError> {
        let tags = self.tags_in(self.place.tags_prefix())?;
        let Some(commit) = tags.get(name).copied() else {
            let known: Vec<&str> = tags.keys().map(String::as_str).collect();
            return Err(RepoError::UnknownTag {
                name: name.into(),
                hint: crate::suggest::did_you_mean(name, &known),
            });
        };
        let mut reference = self
            .git()?
            .find_reference(&format!("{}{name}", self.place.tags_prefix()))
            .map_err(|e| self.git_err(e))?;
        reference.delete().map_err(|e| self.git_err(e))?;
        Ok(commit)
    }

    /// Makes a local tag of every tag `remote` had at the last fetch that this environment
    /// lacks; returns their names. A local tag of the same name that names another commit is
    /// kept as it is (tags never move), and returned in the second list.
    pub fn adopt_remote_tags(&self, remote: &str) -> Result<(Vec<String>, Vec<String>), RepoError> {
        let local = self.tags_in(self.place.tags_prefix())?;
        let (mut adopted, mut kept) = (Vec::new(), Vec::new());
        for (name, commit) in self.remote_tags(remote)? {
            match local.get(&name) {
                Some(mine) if *mine == commit => {}
                Some(_) => kept.push(name),
                None if is_plain_ref_name(&name) => {
                    self.git()?
                        .reference(
                            &format!("{}{name}", self.place.tags_prefix()),
                            commit,
                            false,
                            &format!("lvm: tag {name} from {remote}"),
                        )
                        .map_err(|e| self.git_err(e))?;
                    adopted.push(name);
                }
                // A name lvm would not make (`a/b`) is left to git.
                None => {}
            }
        }
        Ok((adopted, kept))
    }

    /// The tags of each commit that has any.
    pub fn tags_by_commit(&self) -> Result<BTreeMap<Oid, Vec<String>>, RepoError> {
        let mut out: BTreeMap<Oid, Vec<String>> = BTreeMap::new();
        for tag in self.tags()? {
            out.entry(tag.commit).or_default().push(tag.name);
        }
        Ok(out)
    }
}

/// A tag name lvm makes: a plain ref name that is not also a number of events (`lvm rollback 3`)
/// or a revision expression.
pub fn check_tag_name(name: &str) -> Result<(), RepoError> {
    let all_digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    if !is_plain_ref_name(name)
        || name.contains("..")
        || all_digits
        || name.eq_ignore_ascii_case("HEAD")
    {
        return Err(RepoError::BadTagName { name: name.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names() {
        for good in ["v1", "before-upgrade", "release_2.0", "x"] {
            assert!(check_tag_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "12", "HEAD", "-x", ".x", "a/b", "a b", "x.lock", "a~1", "a..b",
        ] {
            assert!(
                matches!(check_tag_name(bad), Err(RepoError::BadTagName { .. })),
                "{bad}"
            );
        }
    }
}
