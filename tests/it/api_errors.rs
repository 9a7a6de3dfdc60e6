//! The library API's errors can be told apart by kind (`lvm::api::error_kind`), through a real
//! environment and rocks server: a caller retries a busy lock, asks about a conflict, and
//! reports bad input differently.

use lvm::api::{ErrorKind, error_kind};
use lvm::env::{Environment, Home};

use crate::common::rocks::{Lvm, file_server};

#[test]
fn unknown_packages_are_bad_input_and_clashing_constraints_a_conflict() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = Environment::open(&lvm.env_dir(), Home::new(lvm.home())).unwrap();

    let err = env.install_package("no-such-rock").unwrap_err();
    assert_eq!(error_kind(&err), ErrorKind::BadInput, "{err:#}");

    // chain-b needs chain-c ~> 1.0, so chain-c 2.0 cannot come with it.
    let err = env
        .install_packages(&["chain-b", "chain-c 2.0-1"])
        .unwrap_err();
    assert_eq!(error_kind(&err), ErrorKind::Conflict, "{err:#}");

    let err = env.install_package("chain-b >=").unwrap_err();
    assert_eq!(error_kind(&err), ErrorKind::BadInput, "{err:#}");
    // Nothing was recorded by the failures.
    assert_eq!(env.history(None).unwrap().len(), 1);
}
