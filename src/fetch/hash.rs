//! Content digests (sha256, md5) of files, byte slices and streams, as lower-case hex.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::FetchError;
pub use crate::digest::{digest_reader, md5_bytes, same_digest, sha256_bytes};

/// The sha256 of the file at `path`, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    digest_file::<Sha256>(path)
}

/// The md5 of the file at `path`, as lower-case hex.
pub fn md5_file(path: &Path) -> Result<String, FetchError> {
    digest_file::<Md5>(path)
}

fn digest_file<D: Digest>(path: &Path) -> Result<String, FetchError> {
    let file = File::open(path).map_err(|e| FetchError::io("cannot open", path, e))?;
    digest_reader::<D>(file)
        .map(|(digest, _)| digest)
        .map_err(|e| FetchError::io("cannot read", path, e))
}

/// Checks that the file at `path` has the md5 `expected` (hex).
pub fn verify_md5(path: &Path, expected: &str) -> Result<(), FetchError> {
    let actual = md5_file(path)?;
    if same_digest(expected, &actual) {
        Ok(())
    } else {
        Err(FetchError::Md5Mismatch {
            file: path.to_path_buf(),
            expected: expected.trim().to_ascii_lowercase(),
            actual,
        })
    }
}

/// A writer that hashes everything written through it with sha256, so a download is hashed in
/// the same pass that stores it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub(crate) fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies `reader` into `writer`, stopping with [`CopyOutcome::LimitExceeded`] once more than
/// `limit` bytes have been read (the bytes over the limit are never written). Read and write
/// failures are told apart so callers can blame the source or the destination.
pub(crate) fn copy_limited<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    limit: u64,
) -> Result<CopyOutcome, CopyError> {
    let mut buf = [0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(CopyOutcome::Complete(total)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if total.saturating_add(n as u64) > limit {
            return Ok(CopyOutcome::LimitExceeded);
        }
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CopyOutcome {
    Complete(u64),
    LimitExceeded,
}

#[derive(Debug)]
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(md5_bytes(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn file_digests_match_byte_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_bytes(b"hello world"));
        assert_eq!(md5_file(&path).unwrap(), md5_bytes(b"hello world"));
    }

    #[test]
    fn verify_md5_accepts_upper_case_and_reports_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        verify_md5(&path, "900150983CD24FB0D6963F7D28E17F72").unwrap();
        let err = verify_md5(&path, "00000000000000000000000000000000").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("00000000000000000000000000000000"), "{msg}");
        assert!(msg.contains("900150983cd24fb0d6963f7d28e17f72"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }

    #[test]
    fn copy_limited_stops_at_the_limit() {
        let mut out = Vec::new();
        let outcome = copy_limited(&mut &b"12345"[..], &mut out, 5).unwrap();
        assert_eq!(outcome, CopyOutcome::Complete(5));
        let mut out = Vec::new();
        let outcome = copy_limited(&mut &b"123456"[..], &mut out, 5).unwrap();
        assert_eq!(outcome, CopyOutcome::LimitExceeded);
    }

    #[test]
    fn hashing_writer_hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, digest) = w.finish();
        assert_eq!(inner, b"abc");
        assert_eq!(digest, sha256_bytes(b"abc"));
    }

    #[test]
    fn streamed_digests_count_bytes_across_buffer_boundaries() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (digest, size) = digest_reader::<Sha256>(&data[..]).unwrap();
        assert_eq!(digest, sha256_bytes(&data));
        assert_eq!(size, data.len() as u64);
    }
}
