//! The kernel's build configuration, in seL4's terms.
//!
//! seL4 is configured with CMake options (`KernelRootCNodeSizeBits`,
//! `KernelFastpath`, ...). seL4-rs takes the same options from a
//! configuration file of `Option=value` lines: the CMake package in
//! `cmake/` writes one from a project's cache, and `cargo xtask` takes one
//! with `--config FILE` or by preset name (`presets/`). The table in
//! `options.txt` lists every option seL4-rs knows and the values its kernel
//! implements; this crate reads both, refuses what the kernel does not
//! implement, and turns a configuration into the Rust constants the kernel
//! and the ABI crate are built with (`sel4-compat`'s build script writes
//! them to its `config` module).
//!
//! A kernel is built for the file named by `SEL4_RS_CONFIG`; without it,
//! for the table's defaults, which are the `sel4test-debug` preset.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The option table (see the file's header for its columns).
pub const OPTIONS_TABLE: &str = include_str!("../options.txt");

/// The environment variable naming the configuration file a kernel build
/// uses.
pub const CONFIG_ENV: &str = "SEL4_RS_CONFIG";

/// The presets `cargo xtask --config NAME` knows, with their files.
pub const PRESETS: &[(&str, &str)] = &[
    ("sel4test-debug", include_str!("../presets/sel4test-debug.config")),
    ("sel4test-release", include_str!("../presets/sel4test-release.config")),
    ("sel4bench", include_str!("../presets/sel4bench.config")),
];

/// The preset that equals the table's defaults.
pub const DEFAULT_PRESET: &str = "sel4test-debug";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Choice,
    /// A flag seL4 derives from a choice; checked through the choice.
    Member,
    /// Has no effect on the kernel seL4-rs builds.
    Any,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supported {
    Anything,
    Values(Vec<String>),
    Range(u64, u64),
}

/// One row of the option table.
#[derive(Clone, Debug)]
pub struct Spec {
    /// seL4's generated name, without `CONFIG_`.
    pub name: String,
    /// The CMake option.
    pub option: String,
    pub kind: Kind,
    pub supported: Supported,
    /// Normalized; `None` for members and `any` rows.
    pub default: Option<String>,
    /// Why the supported values are restricted (may be empty).
    pub note: String,
}

impl Spec {
    /// Whether the option is part of a configuration file (and so of the
    /// generated constants).
    pub fn configurable(&self) -> bool {
        matches!(self.kind, Kind::Bool | Kind::Int | Kind::Choice)
    }

    /// The supported values in words, as refusals print them.
    pub fn supported_text(&self) -> String {
        match &self.supported {
            Supported::Anything => "any value".into(),
            Supported::Range(lo, hi) => format!("{lo}..{hi}"),
            Supported::Values(v) => v.join(", "),
        }
    }

    /// Normalizes `value` (bools to ON/OFF) and checks it against the
    /// supported values; the error is the refusal, worded as the CMake
    /// package words it.
    pub fn check(&self, value: &str) -> Result<String, String> {
        let value = value.trim();
        let normalized = match self.kind {
            Kind::Bool => match normalize_bool(value) {
                Some(b) => b.to_string(),
                None => return Err(format!("{}={value} is not a boolean (ON or OFF)", self.option)),
            },
            Kind::Int => match value.parse::<u64>() {
                Ok(n) => n.to_string(),
                Err(_) => return Err(format!("{}={value} is not a decimal number", self.option)),
            },
            _ => value.to_string(),
        };
        let ok = match &self.supported {
            Supported::Anything => true,
            Supported::Values(v) => v.contains(&normalized),
            Supported::Range(lo, hi) => normalized.parse::<u64>().is_ok_and(|n| (*lo..=*hi).contains(&n)),
        };
        if ok {
            Ok(normalized)
        } else {
            Err(self.refusal(value))
        }
    }

    /// The message for an unsupported value.
    pub fn refusal(&self, value: &str) -> String {
        let note = if self.note.is_empty() { String::new() } else { format!("; {}", self.note) };
        format!("seL4-rs does not support {}={value} (supported: {}{note})", self.option, self.supported_text())
    }
}

/// CMake's spellings of true and false that a configuration file accepts.
fn normalize_bool(value: &str) -> Option<&'static str> {
    match value.to_ascii_uppercase().as_str() {
        "ON" | "TRUE" | "YES" | "Y" | "1" => Some("ON"),
        "OFF" | "FALSE" | "NO" | "N" | "0" => Some("OFF"),
        _ => None,
    }
}

/// Parses the option table. The table is part of this crate, so a
/// malformed row is a bug here (the unit tests parse it).
pub fn specs() -> Vec<Spec> {
    parse_table(OPTIONS_TABLE).unwrap_or_else(|e| panic!("configs/options.txt: {e}"))
}

fn parse_table(text: &str) -> Result<Vec<Spec>, String> {
    let mut out: Vec<Spec> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 5 {
            return Err(format!("line {}: expected at least 5 columns", n + 1));
        }
        let kind = match cols[2] {
            "bool" => Kind::Bool,
            "int" => Kind::Int,
            "choice" => Kind::Choice,
            "member" => Kind::Member,
            "any" => Kind::Any,
            other => return Err(format!("line {}: unknown kind {other}", n + 1)),
        };
        let supported = match (kind, cols[3]) {
            (Kind::Member | Kind::Any, _) | (_, "-") => Supported::Anything,
            (Kind::Int, s) if s.contains("..") => {
                let (lo, hi) = s.split_once("..").unwrap();
                let parse = |x: &str| x.parse::<u64>().map_err(|_| format!("line {}: bad range {s}", n + 1));
                Supported::Range(parse(lo)?, parse(hi)?)
            }
            (_, s) => Supported::Values(s.split(',').map(str::to_string).collect()),
        };
        let mut spec = Spec { name: cols[0].to_string(), option: cols[1].to_string(), kind, supported, default: None, note: cols[5..].join(" ") };
        if spec.configurable() {
            let default = spec.check(cols[4]).map_err(|e| format!("line {}: default: {e}", n + 1))?;
            spec.default = Some(default);
        }
        if out.iter().any(|s| s.name == spec.name) {
            return Err(format!("line {}: {} listed twice", n + 1, spec.name));
        }
        if spec.configurable() && out.iter().any(|s| s.configurable() && s.option == spec.option) {
            return Err(format!("line {}: option {} listed twice", n + 1, spec.option));
        }
        out.push(spec);
    }
    Ok(out)
}

/// A complete, checked configuration: a value for every configurable
/// option of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Option name to normalized value, for every configurable option.
    values: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        let values = specs().into_iter().filter(Spec::configurable).map(|s| (s.option, s.default.unwrap())).collect();
        Config { values }
    }
}

impl Config {
    /// Parses a configuration file: `Option=value` lines (a leading `-D`
    /// and a CMake `:TYPE` after the name are allowed, so lines can be
    /// pasted from an `init-build.sh` command or a CMake cache), `#`
    /// comments. Options it does not name keep their defaults.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut config = Config::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let line = line.strip_prefix("-D").unwrap_or(line);
            let Some((name, value)) = line.split_once('=') else {
                return Err(format!("line {}: expected Option=value, got {raw:?}", n + 1));
            };
            let name = name.split(':').next().unwrap_or(name).trim();
            config.set(name, value).map_err(|e| format!("line {}: {e}", n + 1))?;
        }
        Ok(config)
    }

    /// Sets one option, checked.
    pub fn set(&mut self, option: &str, value: &str) -> Result<(), String> {
        let specs = specs();
        let Some(spec) = specs.iter().find(|s| s.configurable() && s.option == option) else {
            return Err(format!("{option} is not an option seL4-rs knows (its options are listed in configs/options.txt)"));
        };
        let normalized = spec.check(value)?;
        self.values.insert(spec.option.clone(), normalized);
        Ok(())
    }

    /// A preset by name, or a configuration file by path.
    pub fn load(name_or_path: &str) -> Result<Config, String> {
        if let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            return Config::parse(text).map_err(|e| format!("preset {name_or_path}: {e}"));
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            format!("{name_or_path}: {e} (not a file, nor one of the presets {})", names.join(", "))
        })?;
        Config::parse(&text).map_err(|e| format!("{name_or_path}: {e}"))
    }

    pub fn get(&self, option: &str) -> &str {
        self.values.get(option).map(String::as_str).unwrap_or_else(|| panic!("{option} is not a configurable option"))
    }

    pub fn bool(&self, option: &str) -> bool {
        self.get(option) == "ON"
    }

    pub fn int(&self, option: &str) -> u64 {
        self.get(option).parse().unwrap_or_else(|_| panic!("{option} is not a number"))
    }

    /// Every option with its value, one `Option=value` line each, in the
    /// table's order: two configurations are the same kernel configuration
    /// exactly when their canonical texts are equal.
    pub fn canonical_text(&self) -> String {
        let mut out = String::new();
        for spec in specs().iter().filter(|s| s.configurable()) {
            let _ = writeln!(out, "{}={}", spec.option, self.get(&spec.option));
        }
        out
    }

    /// A short stable name for this configuration (FNV-1a of the canonical
    /// text), for per-configuration build directories.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.canonical_text().bytes() {
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// The preset this configuration equals, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESETS.iter().find(|(_, text)| Config::parse(text).as_ref() == Ok(self)).map(|(n, _)| *n)
    }

    /// The CPU rustc generates code for, from `KernelX86MicroArch` (seL4
    /// passes the same choice to its compiler as `-march`).
    pub fn rustc_target_cpu(&self) -> &'static str {
        match self.get("KernelX86MicroArch") {
            "generic" => "x86-64",
            "nehalem" => "nehalem",
            "westmere" => "westmere",
            "sandy" => "sandybridge",
            "ivy" => "ivybridge",
            "haswell" => "haswell",
            "broadwell" => "broadwell",
            "skylake" => "skylake",
            other => panic!("KernelX86MicroArch={other} passed the table's check but has no rustc CPU"),
        }
    }

    /// The Rust module of constants for this configuration: one `pub
    /// const` per configurable option, named as seL4's generated
    /// configuration names it (`CONFIG_ROOT_CNODE_SIZE_BITS` becomes
    /// `ROOT_CNODE_SIZE_BITS`); booleans are `bool`, numbers `usize`,
    /// choices `&str`.
    pub fn rust_module(&self) -> String {
        let mut out = String::from("// Generated by the kernel-config crate from the kernel's configuration; do not edit.\n");
        for spec in specs().iter().filter(|s| s.configurable()) {
            let value = self.get(&spec.option);
            let (ty, literal) = match spec.kind {
                Kind::Bool => ("bool", (value == "ON").to_string()),
                Kind::Int => ("usize", value.to_string()),
                _ => ("&str", format!("{value:?}")),
            };
            let _ = writeln!(out, "/// seL4's `{}` (`CONFIG_{}`).", spec.option, spec.name);
            let _ = writeln!(out, "pub const {}: {ty} = {literal};", spec.name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_defaults_are_supported() {
        let specs = specs();
        assert!(specs.len() > 100);
        for s in specs.iter().filter(|s| s.configurable()) {
            assert_eq!(s.check(s.default.as_deref().unwrap()).as_deref(), Ok(s.default.as_deref().unwrap()), "{}", s.option);
        }
        // Every member names a choice (or derived option) that exists.
        for m in specs.iter().filter(|s| s.kind == Kind::Member) {
            assert!(specs.iter().any(|s| s.option == m.option && s.kind != Kind::Member) || m.option == "KernelXSave", "{}", m.name);
        }
    }

    #[test]
    fn the_default_is_the_sel4test_debug_preset() {
        assert_eq!(Config::load(DEFAULT_PRESET).unwrap(), Config::default());
        assert_eq!(Config::default().preset_name(), Some(DEFAULT_PRESET));
    }

    #[test]
    fn presets_differ_where_they_should() {
        let debug = Config::load("sel4test-debug").unwrap();
        let release = Config::load("sel4test-release").unwrap();
        let bench = Config::load("sel4bench").unwrap();
        assert!(debug.bool("KernelDebugBuild") && debug.bool("KernelPrinting"));
        assert!(!release.bool("KernelDebugBuild") && !release.bool("KernelPrinting"));
        assert_eq!(release.int("KernelRootCNodeSizeBits"), 13);
        assert!(!bench.bool("KernelDebugBuild"));
        assert_eq!(bench.int("KernelRootCNodeSizeBits"), 15);
        assert_ne!(debug.fingerprint(), release.fingerprint());
        assert_eq!(release.preset_name(), Some("sel4test-release"));
    }

    #[test]
    fn refusals_name_option_value_and_what_is_supported() {
        let e = Config::parse("KernelMaxNumNodes=4").unwrap_err();
        assert_eq!(e, "line 1: seL4-rs does not support KernelMaxNumNodes=4 (supported: 1; SMP is not implemented yet)");
        let e = Config::parse("KernelRootCNodeSizeBits=30").unwrap_err();
        assert!(e.contains("KernelRootCNodeSizeBits=30 (supported: 7..26)"), "{e}");
        let e = Config::parse("KernelFPU=XSAVE").unwrap_err();
        assert!(e.contains("KernelFPU=XSAVE (supported: FXSAVE; seL4-rs saves FPU state with FXSAVE only)"), "{e}");
        assert!(Config::parse("KernelFastpath=maybe").unwrap_err().contains("not a boolean"));
        assert!(Config::parse("KernelNoSuchThing=1").unwrap_err().contains("not an option seL4-rs knows"));
        assert!(Config::parse("KernelOptimisation=-O3").unwrap_err().contains("not an option"), "any rows are not configurable");
        assert!(Config::parse("garbage").unwrap_err().contains("expected Option=value"));
    }

    #[test]
    fn file_syntax_accepts_cmake_spellings() {
        let c = Config::parse("# comment\n-DKernelFastpath=FALSE\nKernelRootCNodeSizeBits:STRING=15  # trailing\n\nKernelDebugBuild = no\n").unwrap();
        assert!(!c.bool("KernelFastpath"));
        assert!(!c.bool("KernelDebugBuild"));
        assert_eq!(c.int("KernelRootCNodeSizeBits"), 15);
        assert_eq!(c.get("KernelFPU"), "FXSAVE");
    }

    #[test]
    fn canonical_text_round_trips() {
        let c = Config::load("sel4bench").unwrap();
        assert_eq!(Config::parse(&c.canonical_text()).unwrap(), c);
    }

    #[test]
    fn rust_module_has_one_const_per_option() {
        let mut c = Config::default();
        c.set("KernelRootCNodeSizeBits", "15").unwrap();
        let m = c.rust_module();
        assert!(m.contains("pub const ROOT_CNODE_SIZE_BITS: usize = 15;"), "{m}");
        assert!(m.contains("pub const FASTPATH: bool = true;"));
        assert!(m.contains("pub const KERNEL_X86_MICRO_ARCH: &str = \"nehalem\";"));
        assert!(!m.contains("KERNEL_OPT_LEVEL"));
        let consts = m.lines().filter(|l| l.starts_with("pub const")).count();
        assert_eq!(consts, specs().iter().filter(|s| s.configurable()).count());
    }

    #[test]
    fn every_micro_architecture_has_a_rustc_cpu() {
        let specs = specs();
        let arch = specs.iter().find(|s| s.option == "KernelX86MicroArch").unwrap();
        let Supported::Values(values) = &arch.supported else { panic!() };
        for v in values {
            let mut c = Config::default();
            c.set("KernelX86MicroArch", v).unwrap();
            assert!(!c.rustc_target_cpu().is_empty());
        }
    }
}
