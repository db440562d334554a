//! Gives libadmit.so its SONAME on Linux: `libadmit.so.0`, so a program linked against it
//! records that name and keeps running with any later 0.x library installed under it.
//! (`make -C bindings-c` and test.sh put the `libadmit.so.0` link beside the library.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[expect(clippy::disallowed_methods, reason = "a build script reads cargo's description of the target")]
    let os = std::env::var("CARGO_CFG_TARGET_OS");
    if os.as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libadmit.so.0");
    }
}
