//! The `lvm` command: parses arguments, opens environments with the resolved settings, runs
//! one operation of the library and prints its result. All output is here, none in the library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
