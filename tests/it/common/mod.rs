//! Helpers shared by the integration tests: a real HTTP server ([`http_server`]), a real
//! OpenSSH server ([`ssh_server`]), archive
//! builders (including hostile archives that a safe extractor must refuse), git
//! repositories made with git2, lvm runs against fixture rocks servers ([`rocks`]), and the
//! version suites' fixtures, generators and LuaRocks oracle ([`versions`]).

pub mod git_http;
pub mod http_server;
pub mod rocks;
pub mod s3_server;
pub mod ssh_server;
pub mod versions;

use std::io::Write;
use std::path::{Path, PathBuf};

/// One entry of a test archive. Names are written as given, without the sanitizing the tar and
/// zip crates would do, so hostile names (`../evil`, `/abs`) can be produced.
#[derive(Debug, Clone)]
pub enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    CharDevice {
        path: String,
    },
    Fifo {
        path: String,
    },
}

impl Entry {
    pub fn file(path: &str, data: impl AsRef<[u8]>) -> Entry {
        Entry::File {
            path: path.into(),
            data: data.as_ref().to_vec(),
            mode: 0o644,
        }
    }

    pub fn executable(path: &str, data: impl AsRef<[u8]>) -> Entry {
        Entry::File {
            path: path.into(),
            data: data.as_ref().to_vec(),
            mode: 0o755,
        }
    }

    pub fn dir(path: &str) -> Entry {
        Entry::Dir { path: path.into() }
    }

    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }

    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::Hardlink {
            path: path.into(),
            target: target.into(),
        }
    }

    pub fn char_device(path: &str) -> Entry {
        Entry::CharDevice { path: path.into() }
    }

    pub fn fifo(path: &str) -> Entry {
        Entry::Fifo { path: path.into() }
    }
}

/// A plain (uncompressed) tar archive of `entries`.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (path, data): (&str, &[u8]) = match entry {
            Entry::File { path, data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (path, data)
            }
            Entry::Dir { path } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (path, &[])
            }
            Entry::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name_literal(target).unwrap();
                header.set_mode(0o777);
                (path, &[])
            }
            Entry::Hardlink { path, target } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_link_name_literal(target).unwrap();
                header.set_mode(0o644);
                (path, &[])
            }
            Entry::CharDevice { path } => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_device_major(1).unwrap();
                header.set_device_minor(3).unwrap();
                header.set_mode(0o666);
                (path, &[])
            }
            Entry::Fifo { path } => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_mode(0o644);
                (path, &[])
            }
        };
        let name = path.as_bytes();
        assert!(name.len() < 100, "test tar names must be short: {path}");
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A gzip-compressed tar archive of `entries`.
pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&tar(entries)).unwrap();
    encoder.finish().unwrap()
}

/// A bzip2-compressed tar archive of `entries`.
pub fn tar_bz2(entries: &[Entry]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    encoder.write_all(&tar(entries)).unwrap();
    encoder.finish().unwrap()
}

/// A zip archive of `entries`. Hard links have no zip form and are stored as plain files.
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            Entry::File { path, data, mode } => {
                writer
                    .start_file(path.as_str(), options.unix_permissions(*mode))
                    .unwrap();
                writer.write_all(data).unwrap();
            }
            Entry::Dir { path } => {
                writer.add_directory(path.as_str(), options).unwrap();
            }
            Entry::Symlink { path, target } => {
                writer
                    .add_symlink(path.as_str(), target.as_str(), options)
                    .unwrap();
            }
            Entry::Hardlink { path, target } => {
                writer.start_file(path.as_str(), options).unwrap();
                writer.write_all(target.as_bytes()).unwrap();
            }
            Entry::CharDevice { path } => {
                writer
                    .start_file(path.as_str(), options.external_attributes(0o020_666 << 16))
                    .unwrap();
            }
            Entry::Fifo { path } => {
                writer
                    .start_file(path.as_str(), options.external_attributes(0o010_644 << 16))
                    .unwrap();
            }
        }
    }
    writer.finish().unwrap().into_inner()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every file, directory and symlink under `dir`, as sorted relative paths (symlinks are
/// listed, not followed).
pub fn list_tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// A `file://` URL for a local path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A git repository in a directory, for git source tests.
pub struct GitRepo {
    pub repo: git2::Repository,
    pub path: PathBuf,
}

impl GitRepo {
    /// A new repository whose default branch is `main`.
    pub fn init(path: &Path) -> GitRepo {
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = git2::Repository::init_opts(path, &opts).unwrap();
        GitRepo {
            repo,
            path: path.to_path_buf(),
        }
    }

    /// Writes `files` (path, contents) into the work tree, commits everything on the current
    /// branch, and returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, contents) in files {
            write_file(&self.path, name, contents.as_bytes());
        }
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = git2::Signature::now("Test", "test@example.invalid").unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid = self
            .repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .unwrap();
        oid.to_string()
    }

    /// Creates a lightweight tag at the current commit.
    pub fn tag(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo
            .tag_lightweight(name, head.as_object(), false)
            .unwrap();
    }

    /// Creates an annotated tag at the current commit.
    pub fn annotated_tag(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        let signature = git2::Signature::now("Test", "test@example.invalid").unwrap();
        self.repo
            .tag(name, head.as_object(), &signature, name, false)
            .unwrap();
    }

    /// Creates branch `name` at the current commit and switches to it.
    pub fn switch_new_branch(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo.branch(name, &head, false).unwrap();
        self.switch(name);
    }

    /// Switches to an existing branch, updating the work tree.
    pub fn switch(&self, name: &str) {
        let refname = format!("refs/heads/{name}");
        let target = self
            .repo
            .find_reference(&refname)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        self.repo
            .checkout_tree(
                target.as_object(),
                Some(git2::build::CheckoutBuilder::new().force()),
            )
            .unwrap();
        self.repo.set_head(&refname).unwrap();
    }
}

/// Makes every folder under `dir` writable (the store makes its entries read-only), so a test
/// can delete what is below.
pub fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
}
