//! A real S3-compatible server on 127.0.0.1 for tests: `s3s-fs` (an S3 server on a folder,
//! installed by `.ci/run`), with one access key, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const ACCESS_KEY: &str = "lvm-test-access";
pub const SECRET_KEY: &str = "lvm-test-secret-key";

pub struct S3Server {
    child: Child,
    url: String,
}

impl S3Server {
    /// Starts `s3s-fs` on a free port over `root`, with each of `buckets` made (a bucket is a
    /// folder of the root).
    pub fn start(root: &Path, buckets: &[&str]) -> S3Server {
        for bucket in buckets {
            std::fs::create_dir_all(root.join(bucket)).unwrap();
        }
        let mut child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs on PATH (.ci/run installs it)");
        // It logs its address once it listens: read up to that line.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let marker = "server is running at ";
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("s3s-fs exited before it listened");
            };
            if let Some(at) = line.find(marker) {
                break line[at + marker.len()..].trim().to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        S3Server { child, url }
    }

    /// `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
