//! The platform lvm runs on, in LuaRocks' words: the platform names a rockspec's `platforms`
//! overrides and `supported_platforms` use, and the arch suffix of binary rocks. (The Lua an
//! environment targets is [`crate::luaversion::LuaVersion`].)

/// LuaRocks' platform names for the running system, most specific first (`linux` before
/// `unix`). Rockspec `platforms` overrides are merged in reverse of this order, so the most
/// specific one wins.
pub fn platform_names() -> &'static [&'static str] {
    if cfg!(target_os = "linux") {
        &["linux", "unix"]
    } else if cfg!(target_os = "macos") {
        &["macosx", "bsd", "unix"]
    } else if cfg!(target_os = "freebsd") {
        &["freebsd", "bsd", "unix"]
    } else if cfg!(windows) {
        &["win32", "windows"]
    } else {
        &["unix"]
    }
}

/// The arch string of binary rocks built here (`linux-x86_64`), as in `foo-1.0-1.linux-x86_64.rock`.
pub fn rock_arch() -> String {
    let os = platform_names()[0];
    format!("{os}-{}", std::env::consts::ARCH)
}

/// The file extension of shared libraries (C modules) on this platform.
pub fn shared_library_extension() -> &'static str {
    if cfg!(windows) { "dll" } else { "so" }
}
