//! The `lvm` command: parses arguments, opens environments with the resolved settings, runs
//! one operation of the library and prints its result. All output is here, none in the library.

mod cli;

fn main() {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`lvm log | head`) instead of failing on a broken pipe.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(cli::main());
}
