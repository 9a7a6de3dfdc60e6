//! HTTPS end to end through the `lvm` binary, against a real TLS server on 127.0.0.1 whose
//! certificate a throwaway authority signed: which certificates lvm trusts (`SSL_CERT_FILE`,
//! `SSL_CERT_DIR`, else the system's) and the error for a server none of them vouches for.

use std::process::Output;

use crate::common::http_server::{TestServer, TestTls};
use crate::common::rocks::{Lvm, failed, publish_fixtures_matching, succeeded};

/// Runs `lvm ARGS` with exactly the certificate variables in `vars` set.
fn run_trusting(lvm: &Lvm, vars: &[(&str, &std::path::Path)], args: &[&str]) -> Output {
    let mut cmd = lvm.command();
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd.args(args).output().unwrap()
}

/// An environment whose rocks server is `server`, holding `strutil`.
fn env_on(server: &TestServer, served: &std::path::Path) -> Lvm {
    publish_fixtures_matching(served, &server.url(), |n| n.starts_with("strutil"));
    let lvm = Lvm::new();
    lvm.init(&[&server.url()]);
    lvm
}

#[test]
#[cfg_attr(
    not(lvm_has_openssl),
    ignore = "needs the openssl program (to make certificates)"
)]
fn https_servers_are_trusted_through_ssl_cert_file_or_ssl_cert_dir() {
    let tls = TestTls::new();
    let work = tempfile::tempdir().unwrap();
    let served = work.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = TestServer::serve_tls(&served, &tls);
    let ca_file = tls.ca_file();
    let ca_dir = ca_file.parent().unwrap().to_path_buf();
    let args = ["install", "strutil"];

    // The system's store does not know the throwaway authority: refused, nothing changed.
    let lvm = env_on(&server, &served);
    let before = lvm.snapshot();
    let err = failed(&args, &run_trusting(&lvm, &[], &args));
    assert!(err.contains(&server.url()), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("SSL_CERT_FILE"), "the hint: {err}");
    assert_eq!(lvm.snapshot(), before);

    succeeded(
        &args,
        &run_trusting(&lvm, &[("SSL_CERT_FILE", &ca_file)], &args),
    );
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);

    // A fresh home, so the manifest and the archive are downloaded again.
    let lvm = env_on(&server, &served);
    let downloads = server.total_requests();
    succeeded(
        &args,
        &run_trusting(&lvm, &[("SSL_CERT_DIR", &ca_dir)], &args),
    );
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    assert!(server.total_requests() > downloads);
}
