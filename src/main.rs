fn main() {
    std::process::exit(lvm::cli::main());
}
