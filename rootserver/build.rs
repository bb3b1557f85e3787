fn main() {
    // Link well above the null page, where seL4 rootservers usually live.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=--image-base=0x400000");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=0x1000");
    }
}
