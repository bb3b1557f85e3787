//! Generates `config.rs`, the kernel configuration's constants (see the
//! `kernel-config` crate): from the file `SEL4_RS_CONFIG` names, or the
//! defaults without one. A value seL4-rs does not implement stops the build
//! with the refusal.

fn main() {
    println!("cargo:rerun-if-env-changed={}", kernel_config::CONFIG_ENV);
    let config = match std::env::var(kernel_config::CONFIG_ENV) {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            kernel_config::Config::load(&path)
        }
        _ => Ok(kernel_config::Config::default()),
    };
    let config = config.unwrap_or_else(|e| {
        eprintln!("error: kernel configuration: {e}");
        std::process::exit(1);
    });
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("config.rs"), config.rust_module()).expect("OUT_DIR is writable");
}
