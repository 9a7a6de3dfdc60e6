//! The library API's errors can be told apart by kind (`Error::kind`), through a real
//! environment and rocks server: a caller retries a busy lock, asks about a conflict, checks
//! the network, reports bad input or a damaged environment differently.

use std::time::Duration;

use lvm::api::ErrorKind;
use lvm::env::{Environment, Home};

use crate::common::rocks::{Lvm, file_server, git};

fn open(lvm: &Lvm) -> Environment {
    Environment::open(&lvm.env_dir(), Home::new(lvm.home())).unwrap()
}

/// A 127.0.0.1 URL nothing listens on: the port was free a moment ago.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unknown_packages_are_bad_input_and_clashing_constraints_a_conflict() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = open(&lvm);

    let err = env.install_package("no-such-rock").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");

    // chain-b needs chain-c ~> 1.0, so chain-c 2.0 cannot come with it.
    let err = env
        .install_packages(&["chain-b", "chain-c 2.0-1"])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    let err = env.install_package("chain-b >=").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    // Nothing was recorded by the failures.
    assert_eq!(env.history(None).unwrap().len(), 1);
}

#[test]
fn removing_what_others_need_is_a_conflict() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = open(&lvm);
    env.install_package("chain-a").unwrap();
    let err = env.remove_package("chain-c").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(
        err.to_string().contains("chain-c is needed by chain-b"),
        "{err}"
    );
}

#[test]
fn a_held_writer_lock_is_lock_busy() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = open(&lvm);
    let _held = env.lock(Duration::ZERO).unwrap();
    // Another handle, as another process would have: the lock is an open file's.
    let other = open(&lvm);
    let err = other.lock(Duration::ZERO).err().expect("the lock is held");
    assert_eq!(err.kind(), ErrorKind::LockBusy, "{err}");
    // Through an operation's error too.
    assert_eq!(lvm::ops::Error::from(err).kind(), ErrorKind::LockBusy);
}

#[test]
fn an_unreachable_server_is_the_network() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let dead = closed_port_url();
    lvm.init(&[&url]);
    let env = open(&lvm);

    // While fetching sources (after resolution): a rockspec whose source is on a dead server.
    let rockspec = lvm.root.path().join("offline-1.0-1.rockspec");
    std::fs::write(
        &rockspec,
        format!(
            r#"package = "offline"
version = "1.0-1"
source = {{ url = "{dead}/offline-1.0.tar.gz" }}
build = {{ type = "builtin", modules = {{ offline = "offline.lua" }} }}
"#
        ),
    )
    .unwrap();
    let err = env.install_package(rockspec.to_str().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(
        lvm::errors::error_text(&err).contains(&dead),
        "names the server: {}",
        lvm::errors::error_text(&err)
    );

    // While resolving: the only server cannot be read, so no package can be found.
    let lvm = Lvm::new();
    lvm.init(&[&dead]);
    let err = open(&lvm).install_package("chain-a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(
        err.to_string().contains("could not be read"),
        "{}",
        lvm::errors::error_text(&err)
    );
}

#[test]
fn a_broken_rockspec_is_bad_input() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = open(&lvm);
    let rockspec = lvm.root.path().join("broken-1.0-1.rockspec");
    std::fs::write(&rockspec, "package = 'broken'\nversion = \n").unwrap();
    let err = env.install_package(rockspec.to_str().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    assert!(err.to_string().contains("broken-1.0-1.rockspec"), "{err}");
    assert_eq!(env.history(None).unwrap().len(), 1);
}

#[test]
fn an_unreadable_recorded_state_is_damage() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    // A hand-made commit whose manifest.json is not a manifest.
    let dir = lvm.env_dir();
    std::fs::write(dir.join("manifest.json"), "not a manifest").unwrap();
    git(&dir, &["commit", "-qam", "edit"]);
    let env = open(&lvm);
    let err = env.manifest().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    let err = env.install_package("chain-c").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
}

#[test]
fn a_bad_recorded_setting_is_bad_input_and_a_file_for_the_scratch_folder_damage() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let dir = lvm.env_dir();

    // A plain file where lvm keeps its scratch folder: the environment's layout is broken.
    let scratch = dir.join(".lvm-tmp");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::write(&scratch, b"").unwrap();
    let err = open(&lvm).install_package("chain-c").unwrap_err();
    assert!(matches!(err, lvm::ops::Error::Scratch(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    std::fs::remove_file(&scratch).unwrap();

    // An out-of-range value committed by hand: opening names the commands that replace it.
    let toml = dir.join("lvm.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}lock_timeout = 1e300\n")).unwrap();
    git(&dir, &["commit", "-qam", "by hand"]);
    let Err(err) = Environment::open(&dir, Home::new(lvm.home())) else {
        panic!("an environment with lock_timeout = 1e300 opened");
    };
    assert!(matches!(err, lvm::env::EnvError::BadSettings(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    let text = lvm::errors::error_text(&err);
    assert!(
        text.contains("lvm config unset KEY") && text.contains("lock_timeout"),
        "{text}"
    );
}
