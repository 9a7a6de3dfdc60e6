//! Content digests (sha256, md5) of byte slices and streams, as lower-case hex.
//! The leaf every layer hashes with: downloads, store entries, trees and rockspecs.

use std::io::{self, Read};

use md5::Md5;
use sha2::{Digest, Sha256};

/// The sha256 of `bytes`, as lower-case hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The md5 of `bytes`, as lower-case hex.
pub fn md5_bytes(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Streams `reader` through the digest `D`: its lower-case hex digest and how many bytes it
/// read.
pub fn digest_reader<D: Digest>(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Hex digests compare case-insensitively and ignoring surrounding blanks, since rockspecs and
/// lock files are written by hand.
pub fn same_digest(expected: &str, actual: &str) -> bool {
    expected.trim().eq_ignore_ascii_case(actual.trim())
}
