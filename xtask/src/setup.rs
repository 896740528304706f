//! `cargo xtask setup`: installs or verifies everything a fresh Debian or
//! Ubuntu machine needs to build, test and run xdpstack. Idempotent: each
//! step checks first and says whether it had to do anything.
//!
//! Steps, in dependency order:
//! 1. apt packages (native libraries for xsk-rs, and the lab's network tools);
//! 2. rustfmt and clippy for the toolchain running xtask (`cargo xtask test`);
//! 3. the nightly pinned in `xdp-ebpf/rust-toolchain.toml`, with the
//!    components it names (`rust-src` for the eBPF crates' `-Z
//!    build-std=core`, clippy for `cargo xtask test`);
//! 4. a `libLLVM.so` symlink in that nightly's `lib/` (bpf-linker's build
//!    script looks for exactly that name under `$LLVM_PREFIX/lib`);
//! 5. bpf-linker, built against that nightly's own LLVM (no prebuilt binary
//!    is downloadable here, and LLVM versions must match);
//! 6. bpffs mounted at /sys/fs/bpf;
//! 7. cargo-fuzz, for `cargo xtask fuzz` (run briefly by `cargo xtask test`).
//!
//! Steps 2 and 7 serve only testing: `cargo xtask run` sets up
//! [`Scope::Run`] and leaves them out (cargo-fuzz alone is ~30 s of `cargo
//! install` on a newcomer's first run); `cargo xtask test`, `setup` and CI
//! do everything.
//!
//! It also reports what it cannot change: root, the kernel, BTF.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::netns::is_root;

/// The eBPF crates' toolchain pin, read when xtask is compiled: the one
/// place it is written (userspace/build.rs reads the same file).
pub const EBPF_TOOLCHAIN_FILE: &str = include_str!("../../xdp-ebpf/rust-toolchain.toml");
/// The nightly that builds the eBPF crates (LLVM 23.1), from
/// [`EBPF_TOOLCHAIN_FILE`]. If it changes, bpf-linker is rebuilt against the
/// new one (the check below notices).
pub const NIGHTLY: &str = toolchain_channel(EBPF_TOOLCHAIN_FILE);
/// bpf-linker's version; 0.13.0 defaults to LLVM 23, matching [`NIGHTLY`].
pub const BPF_LINKER_VERSION: &str = "0.13.0";
/// Debian/Ubuntu packages: make..libpcap-dev build xsk-rs's C code (libbpf,
/// libxdp; make is on most machines but not in Debian slim images, where the
/// Dockerfile's build stage found it missing); the rest are the lab's tools.
pub const APT_PACKAGES: &[&str] = &[
    "make",
    "clang",
    "llvm",
    "libelf-dev",
    "zlib1g-dev",
    "pkg-config",
    "m4",
    "libpcap-dev",
    "iproute2",
    "iputils-ping",
    "arping",
    "tcpdump",
    "ethtool",
    "bpftool",
    "hping3",
    // ndisc6: Neighbor Discovery from the lab's client (root_ipv6_lab).
    "ndisc6",
    "netcat-openbsd",
    "curl",
    "procps",
    // The font `cargo xtask bench` draws its chart's text with.
    "fonts-dejavu-core",
];
/// cargo-fuzz's version (`cargo xtask fuzz`, with [`NIGHTLY`]).
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Where bpffs is conventionally mounted (for pinned maps and bpftool).
pub const BPFFS_DIR: &str = "/sys/fs/bpf";

/// What `setup` of `scope` would have to do, from cheap checks only (a few
/// `dpkg-query`/`rustup`/`--version` calls, no network). Empty means ready.
pub fn missing(scope: Scope) -> Vec<String> {
    let mut missing = Vec::new();
    match missing_apt_packages() {
        Ok(pkgs) if !pkgs.is_empty() => missing.push(format!("apt packages: {}", pkgs.join(" "))),
        Ok(_) => {}
        Err(e) => missing.push(format!("{e:#}")),
    }
    let components = if scope.testing_tools() {
        missing_stable_components()
    } else {
        Vec::new()
    };
    if !components.is_empty() {
        missing.push(format!("rustup components: {}", components.join(" ")));
    }
    match nightly_state() {
        Ok(Nightly::Ready) => match llvm_symlink_problem() {
            Ok(None) => {}
            Ok(Some(problem)) => missing.push(problem),
            Err(e) => missing.push(format!("{e:#}")),
        },
        Ok(Nightly::Absent) => missing.push(format!("toolchain {NIGHTLY}")),
        Ok(Nightly::Missing(components)) => {
            missing.push(format!("components {} for {NIGHTLY}", components.join(" ")))
        }
        Err(e) => missing.push(format!("{e:#}")),
    }
    if let Some(problem) = bpf_linker_problem() {
        missing.push(problem);
    }
    if scope.running() && !bpffs_mounted() {
        missing.push(format!("bpffs not mounted at {BPFFS_DIR}"));
    }
    if scope.testing_tools() && !cargo_fuzz_installed() {
        missing.push(format!("cargo-fuzz {CARGO_FUZZ_VERSION}"));
    }
    missing
}

/// How much `setup` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything: building, running (bpffs) and testing (rustfmt, clippy,
    /// cargo-fuzz).
    Full,
    /// What building and running need (`cargo xtask run`, `lab`, `bench`,
    /// `install`): no rustfmt/clippy, no cargo-fuzz.
    Run,
    /// Only what building xdpstack needs (`--build-only`): the Dockerfile's
    /// build stage, where nothing runs and bpffs cannot be mounted.
    BuildOnly,
}

impl Scope {
    /// rustfmt/clippy and cargo-fuzz: what only `cargo xtask test` uses.
    fn testing_tools(self) -> bool {
        self == Scope::Full
    }

    /// bpffs and the kernel checks: what running xdpstack here needs.
    fn running(self) -> bool {
        self != Scope::BuildOnly
    }
}

/// Runs every step, printing what each found and did.
pub fn run() -> Result<()> {
    run_scope(Scope::Full)
}

/// Runs the steps of `scope`, printing what each found and did.
pub fn run_scope(scope: Scope) -> Result<()> {
    println!("setup: checking this machine; each step says whether it had to act");
    let root = is_root();
    report(
        "running as root",
        if root {
            "yes"
        } else {
            "no: installing packages, mounting bpffs, the lab and root-only tests need root"
        },
    );
    let mut changed = Vec::new();
    if apt_packages(root)? {
        changed.push("apt packages");
    }
    if scope.testing_tools() && stable_components()? {
        changed.push("rustfmt/clippy");
    }
    if nightly()? {
        changed.push("nightly toolchain");
    }
    if llvm_symlink()? {
        changed.push("libLLVM.so symlink");
    }
    if bpf_linker()? {
        changed.push("bpf-linker");
    }
    if !scope.running() {
        println!("setup: build only, so no rustfmt/clippy, cargo-fuzz, bpffs or kernel checks");
    } else {
        if bpffs(root)? {
            changed.push("bpffs mount");
        }
        if scope.testing_tools() && ensure_cargo_fuzz()? {
            changed.push("cargo-fuzz");
        }
        kernel_report();
    }
    if scope == Scope::Run {
        println!("setup: what running needs only; `cargo xtask test` (or `cargo xtask setup`) adds rustfmt/clippy and cargo-fuzz");
    }
    if changed.is_empty() {
        println!("setup: nothing to do, everything was already in place");
    } else {
        println!("setup: done; changed: {}", changed.join(", "));
    }
    Ok(())
}

// ---- 7. cargo-fuzz ---------------------------------------------------------

fn cargo_fuzz_installed() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION)
        })
}

/// Installs cargo-fuzz when it is missing; true when it had to.
pub fn ensure_cargo_fuzz() -> Result<bool> {
    let step = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    if cargo_fuzz_installed() {
        report(&step, "already installed");
        return Ok(false);
    }
    report(&step, "installing (cargo install, about two minutes)");
    cmd::status_ok(
        Command::new("cargo")
            .args([
                "install",
                "cargo-fuzz",
                "--version",
                CARGO_FUZZ_VERSION,
                "--locked",
                "--force",
            ])
            .env_remove("LD_LIBRARY_PATH")
            .current_dir(std::env::temp_dir()),
    )?;
    if !cargo_fuzz_installed() {
        bail!("cargo-fuzz still not usable after `cargo install` (is ~/.cargo/bin on PATH?)");
    }
    Ok(true)
}

fn report(step: &str, status: &str) {
    println!("  {step:<40} {status}");
}

// ---- 1. apt packages -------------------------------------------------------

fn missing_apt_packages() -> Result<Vec<&'static str>> {
    // One call for all packages. dpkg-query exits 1 and complains on stderr
    // about packages it has never heard of; those are simply not installed.
    let out = cmd::output(
        Command::new("dpkg-query")
            .arg("-W")
            .arg("-f=${Package} ${Status}\\n")
            .args(APT_PACKAGES),
    )
    .with_context(|| {
        format!(
            "dpkg-query not found: setup supports Debian and Ubuntu; elsewhere install the \
             equivalents of: {}",
            APT_PACKAGES.join(" ")
        )
    })?;
    let installed = parse_dpkg_installed(&String::from_utf8_lossy(&out.stdout));
    Ok(APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.iter().any(|i| i == p))
        .collect())
}

/// Packages whose status is `install ok installed` in `dpkg-query -W
/// -f='${Package} ${Status}\n'` output (`removed`/`config-files` are not).
fn parse_dpkg_installed(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|line| {
            let (name, status) = line.split_once(' ')?;
            (status.trim() == "install ok installed").then(|| name.to_string())
        })
        .collect()
}

fn apt_packages(root: bool) -> Result<bool> {
    let step = format!("apt packages ({})", APT_PACKAGES.len());
    let missing = missing_apt_packages()?;
    if missing.is_empty() {
        report(&step, "already installed");
        return Ok(false);
    }
    let list = missing.join(" ");
    if !root {
        bail!("apt packages missing: {list}: run `cargo xtask setup` as root, or `apt-get install {list}`");
    }
    report(&step, &format!("installing: {list}"));
    // The package lists may be empty or stale on a fresh machine; only
    // refreshed when something is missing, so a second run stays offline.
    cmd::status_ok(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["update", "-q"]),
    )?;
    cmd::status_ok(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q"])
            .args(&missing),
    )?;
    let still = missing_apt_packages()?;
    if !still.is_empty() {
        bail!(
            "apt-get finished but these packages are still not installed: {}: check the apt output above",
            still.join(" ")
        );
    }
    report(&step, "installed");
    Ok(true)
}

// ---- 2. rustfmt and clippy -------------------------------------------------

/// rustfmt/clippy missing from the toolchain running xtask (a minimal rustup
/// profile has neither).
fn missing_stable_components() -> Vec<&'static str> {
    [("rustfmt", "fmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(_, sub)| !cmd::succeeds(Command::new("cargo").args([sub, "--version"])))
        .map(|(component, _)| component)
        .collect()
}

fn stable_components() -> Result<bool> {
    let step = "rustfmt + clippy (host toolchain)";
    let missing = missing_stable_components();
    if missing.is_empty() {
        report(step, "already installed");
        return Ok(false);
    }
    report(step, &format!("installing: {}", missing.join(" ")));
    // No --toolchain: rustup adds them to the toolchain running this cargo
    // (RUSTUP_TOOLCHAIN, set by the rustup proxy that started xtask).
    cmd::status_ok(
        Command::new("rustup")
            .args(["component", "add"])
            .args(&missing),
    )?;
    let still = missing_stable_components();
    if !still.is_empty() {
        bail!(
            "`cargo fmt`/`cargo clippy` still do not run after `rustup component add {}`: check the output above",
            still.join(" ")
        );
    }
    Ok(true)
}

// ---- 3. the pinned nightly -------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Nightly {
    Absent,
    /// Installed, without these of [`nightly_components`].
    Missing(Vec<String>),
    Ready,
}

/// `channel = "..."` of a rust-toolchain.toml, in a const fn so that
/// [`NIGHTLY`] stays a constant; a file without one fails the build.
pub const fn toolchain_channel(toml: &str) -> &str {
    let b = toml.as_bytes();
    let mut line = 0;
    while line < b.len() {
        let mut end = line;
        while end < b.len() && b[end] != b'\n' {
            end += 1;
        }
        let mut i = skip_blanks(b, line, end);
        if starts_with_at(b, i, end, b"channel") {
            i = skip_blanks(b, i + 7, end);
            if i < end && b[i] == b'=' {
                i = skip_blanks(b, i + 1, end);
                if i < end && b[i] == b'"' {
                    let start = i + 1;
                    let mut stop = start;
                    while stop < end && b[stop] != b'"' {
                        stop += 1;
                    }
                    if stop < end && stop > start {
                        let (head, _) = b.split_at(stop);
                        let (_, value) = head.split_at(start);
                        match core::str::from_utf8(value) {
                            Ok(v) => return v,
                            Err(_) => panic!("the toolchain channel is not UTF-8"),
                        }
                    }
                }
            }
        }
        line = end + 1;
    }
    panic!("xdp-ebpf/rust-toolchain.toml names no `channel = \"...\"`")
}

const fn skip_blanks(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

const fn starts_with_at(b: &[u8], i: usize, end: usize, word: &[u8]) -> bool {
    if i + word.len() > end {
        return false;
    }
    let mut k = 0;
    while k < word.len() {
        if b[i + k] != word[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// `components = [...]` of a rust-toolchain.toml (on one line).
fn toolchain_components(toml: &str) -> Vec<String> {
    toml.lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("components")?.trim_start();
            let list = rest.strip_prefix('=')?.trim();
            let list = list.strip_prefix('[')?.split(']').next()?;
            Some(
                list.split(',')
                    .map(|c| c.trim().trim_matches('"').to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            )
        })
        .unwrap_or_default()
}

/// What the nightly needs beyond a minimal profile, as the pin file says:
/// rust-src (`-Z build-std=core`) at least, clippy for `cargo xtask test`.
fn nightly_components() -> Vec<String> {
    let mut components = toolchain_components(EBPF_TOOLCHAIN_FILE);
    if !components.iter().any(|c| c == "rust-src") {
        components.push("rust-src".to_string());
    }
    components
}

fn rustup() -> Command {
    Command::new("rustup")
}

fn rustup_stdout(args: &[&str]) -> Result<String> {
    cmd::stdout_ok(rustup().args(args)).context(
        "rustup is needed for the pinned nightly: install Rust with rustup (https://rustup.rs)",
    )
}

fn nightly_state() -> Result<Nightly> {
    let list = rustup_stdout(&["toolchain", "list"])?;
    if !toolchain_listed(&list, NIGHTLY) {
        return Ok(Nightly::Absent);
    }
    let installed = rustup_stdout(&["component", "list", "--installed", "--toolchain", NIGHTLY])?;
    let missing: Vec<String> = nightly_components()
        .into_iter()
        .filter(|c| !component_listed(&installed, c))
        .collect();
    if !missing.is_empty() {
        return Ok(Nightly::Missing(missing));
    }
    Ok(Nightly::Ready)
}

/// True if `rustup toolchain list` shows `name` (listed with its host
/// triple, e.g. `nightly-2026-10-15-x86_64-unknown-linux-gnu (active)`).
fn toolchain_listed(list: &str, name: &str) -> bool {
    let with_triple = format!("{name}-");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|t| t == name || (t.starts_with(&with_triple) && t[with_triple.len()..].contains("-")))
}

/// True if `rustup component list --installed` shows `component` (rust-src
/// has no target suffix; others look like `clippy-x86_64-unknown-linux-gnu`).
fn component_listed(list: &str, component: &str) -> bool {
    let with_triple = format!("{component}-");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|t| t == component || t.starts_with(&with_triple))
}

fn nightly() -> Result<bool> {
    let components = nightly_components();
    let step = format!("{NIGHTLY} ({})", components.join(", "));
    match nightly_state()? {
        Nightly::Ready => {
            report(&step, "already installed");
            return Ok(false);
        }
        Nightly::Absent => {
            report(&step, "installing");
            let mut install = rustup();
            install.args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]);
            for c in &components {
                install.args(["--component", c]);
            }
            cmd::status_ok(&mut install)?;
        }
        Nightly::Missing(missing) => {
            report(&step, &format!("adding {}", missing.join(" ")));
            cmd::status_ok(
                rustup()
                    .args(["component", "add"])
                    .args(&missing)
                    .args(["--toolchain", NIGHTLY]),
            )?;
        }
    }
    if nightly_state()? != Nightly::Ready {
        bail!(
            "{NIGHTLY} with {} is still not installed after rustup ran: check the output above",
            components.join(", ")
        );
    }
    Ok(true)
}

/// The nightly's sysroot (`rustc +NIGHTLY --print sysroot`): bpf-linker's LLVM_PREFIX.
fn nightly_sysroot() -> Result<PathBuf> {
    // `+toolchain` overrides the RUSTUP_TOOLCHAIN that cargo set for xtask.
    let out =
        cmd::stdout_ok(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]))
            .with_context(|| {
                format!("cannot find the sysroot of {NIGHTLY}: run `cargo xtask setup`")
            })?;
    Ok(PathBuf::from(out.trim()))
}

// ---- 4. libLLVM.so symlink -------------------------------------------------

/// The nightly's LLVM shared library, e.g. `libLLVM.so.23.1-rust-1.101.0-nightly`.
fn llvm_library(lib_dir: &Path) -> Result<String> {
    let mut names = Vec::new();
    let entries = fs::read_dir(lib_dir)
        .with_context(|| format!("cannot list {}: reinstall {NIGHTLY}", lib_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", lib_dir.display()))?;
        // Only real files: libLLVM.so itself is our symlink, and
        // libLLVM-23-*.so is a linker script that points at the real file.
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    pick_llvm_library(&names).with_context(|| {
        format!(
            "no libLLVM.so.* in {}: reinstall {NIGHTLY} (`rustup toolchain uninstall {NIGHTLY}`, then `cargo xtask setup`)",
            lib_dir.display()
        )
    })
}

fn pick_llvm_library(names: &[String]) -> Option<String> {
    let mut libs: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("libLLVM.so.") && n.len() > "libLLVM.so.".len())
        .collect();
    libs.sort();
    libs.first().map(|s| s.to_string())
}

/// None if `$SYSROOT/lib/libLLVM.so` resolves to the nightly's LLVM library.
fn llvm_symlink_problem() -> Result<Option<String>> {
    let lib_dir = nightly_sysroot()?.join("lib");
    let library = llvm_library(&lib_dir)?;
    let link = lib_dir.join("libLLVM.so");
    let ok = match (
        fs::canonicalize(&link),
        fs::canonicalize(lib_dir.join(&library)),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    Ok((!ok).then(|| format!("symlink {} -> {library}", link.display())))
}

fn llvm_symlink() -> Result<bool> {
    let step = "libLLVM.so symlink in the nightly";
    if llvm_symlink_problem()?.is_none() {
        report(step, "already present");
        return Ok(false);
    }
    let lib_dir = nightly_sysroot()?.join("lib");
    let library = llvm_library(&lib_dir)?;
    let link = lib_dir.join("libLLVM.so");
    // A wrong or dangling link (from an older nightly) is replaced.
    if fs::symlink_metadata(&link).is_ok() {
        fs::remove_file(&link)
            .with_context(|| format!("cannot remove the stale {}", link.display()))?;
    }
    // Relative target: stays valid if the toolchain directory moves.
    std::os::unix::fs::symlink(&library, &link)
        .with_context(|| format!("cannot create {} -> {library}", link.display()))?;
    report(step, &format!("created {} -> {library}", link.display()));
    Ok(true)
}

// ---- 5. bpf-linker ---------------------------------------------------------

fn cargo_home() -> PathBuf {
    match std::env::var_os("CARGO_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
    }
}

/// Where bpf-linker is: the first on PATH (that is the one rustc will run),
/// else `~/.cargo/bin`, where `cargo install` puts it.
fn find_bpf_linker() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("bpf-linker"))
        .chain(std::iter::once(cargo_home().join("bin").join("bpf-linker")))
        .find(|p| p.is_file())
}

fn on_path(binary: &Path) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    binary
        .parent()
        .is_some_and(|dir| std::env::split_paths(&path).any(|p| p == dir))
}

/// The version from `bpf-linker --version` output (`bpf-linker 0.13.0`).
pub fn parse_bpf_linker_version(out: &str) -> Option<String> {
    let mut words = out.lines().next()?.split_whitespace();
    if words.next()? != "bpf-linker" {
        return None;
    }
    let version = words.next()?.trim_start_matches('v');
    let looks_like_version = version.split('.').count() >= 2
        && version.split('.').all(|part| {
            !part.is_empty() && part.chars().next().is_some_and(|c| c.is_ascii_digit())
        });
    looks_like_version.then(|| version.to_string())
}

fn bpf_linker_version(binary: &Path) -> Option<String> {
    let out = cmd::output(Command::new(binary).arg("--version")).ok()?;
    if !out.status.success() {
        // Typically: its libLLVM is gone because the nightly was removed.
        return None;
    }
    parse_bpf_linker_version(&String::from_utf8_lossy(&out.stdout))
}

/// Some(false) if `ldd` shows the binary loading a libLLVM other than the
/// nightly's (built against another toolchain); None if it cannot tell
/// (no ldd, or LLVM linked statically).
fn linked_against(binary: &Path, llvm: &Path) -> Option<bool> {
    let out = cmd::stdout_ok(Command::new("ldd").arg(binary)).ok()?;
    let line = out.lines().find(|l| l.contains("libLLVM"))?;
    let resolved = line.split("=>").nth(1)?.split_whitespace().next()?;
    let same = match (fs::canonicalize(resolved), fs::canonicalize(llvm)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    Some(same)
}

/// None if a bpf-linker of the pinned version, built against the pinned
/// nightly's LLVM, is there.
fn bpf_linker_problem() -> Option<String> {
    let Some(binary) = find_bpf_linker() else {
        return Some(format!("bpf-linker {BPF_LINKER_VERSION} not installed"));
    };
    match bpf_linker_version(&binary) {
        Some(v) if v == BPF_LINKER_VERSION => {}
        Some(v) => {
            return Some(format!(
                "bpf-linker at {} is {v}, want {BPF_LINKER_VERSION}",
                binary.display()
            ))
        }
        None => {
            return Some(format!(
                "bpf-linker at {} does not run (`--version` failed)",
                binary.display()
            ))
        }
    }
    let llvm = nightly_sysroot().ok().and_then(|sysroot| {
        llvm_library(&sysroot.join("lib"))
            .ok()
            .map(|l| sysroot.join("lib").join(l))
    });
    if let Some(llvm) = llvm {
        if linked_against(&binary, &llvm) == Some(false) {
            return Some(format!(
                "bpf-linker at {} is not linked against {NIGHTLY}'s LLVM",
                binary.display()
            ));
        }
    }
    None
}

fn bpf_linker() -> Result<bool> {
    let step = format!("bpf-linker {BPF_LINKER_VERSION}");
    let Some(problem) = bpf_linker_problem() else {
        let at = find_bpf_linker()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        report(&step, &format!("already installed ({at})"));
        warn_if_not_on_path();
        return Ok(false);
    };
    report(&step, &format!("building ({problem}; about a minute)"));
    let sysroot = nightly_sysroot()?;
    let mut install = Command::new("cargo");
    install
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
        ])
        // Replaces a wrong version or one built against another LLVM.
        .arg("--force")
        // bpf-linker's build script links $LLVM_PREFIX/lib/libLLVM.so (step 4).
        .env("LLVM_PREFIX", &sysroot)
        // `cargo run` sets LD_LIBRARY_PATH to the host toolchain's libraries;
        // build in a plain environment, as from a shell.
        .env_remove("LD_LIBRARY_PATH")
        // Outside the workspace, so its .cargo/config.toml does not apply.
        .current_dir(std::env::temp_dir());
    cmd::status_ok(&mut install)?;
    if let Some(problem) = bpf_linker_problem() {
        bail!(
            "bpf-linker still not usable after `cargo install`: {problem}: if an older one comes \
             first on PATH, remove it"
        );
    }
    warn_if_not_on_path();
    Ok(true)
}

fn warn_if_not_on_path() {
    if let Some(binary) = find_bpf_linker() {
        if !on_path(&binary) {
            println!(
                "  warning: {} is not on PATH; add {} to PATH or the eBPF build will not find it",
                binary.display(),
                binary
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
    }
}

// ---- 6. bpffs and the kernel -----------------------------------------------

fn bpffs_mounted() -> bool {
    fs::read_to_string("/proc/mounts")
        .map(|m| is_bpffs_mounted(&m, BPFFS_DIR))
        .unwrap_or(false)
}

/// True if /proc/mounts has a `bpf` filesystem at `dir`.
fn is_bpffs_mounted(mounts: &str, dir: &str) -> bool {
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() >= 3 && fields[1] == dir && fields[2] == "bpf"
    })
}

fn bpffs(root: bool) -> Result<bool> {
    let step = format!("bpffs at {BPFFS_DIR}");
    if bpffs_mounted() {
        report(&step, "already mounted");
        return Ok(false);
    }
    if !root {
        bail!("bpffs is not mounted at {BPFFS_DIR}: run `cargo xtask setup` as root, or `mount -t bpf bpf {BPFFS_DIR}`");
    }
    cmd::status_ok(Command::new("mount").args(["-t", "bpf", "bpf", BPFFS_DIR]))?;
    report(
        &step,
        "mounted now (not persistent: setup mounts it again after a reboot)",
    );
    Ok(true)
}

/// Facts setup cannot change, reported so a failure later is easy to place.
fn kernel_report() {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    report("kernel", &release);
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    report(
        "kernel BTF (/sys/kernel/btf/vmlinux)",
        if btf {
            "present"
        } else {
            "absent (only CO-RE programs need it)"
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        // `cargo xtask run` neither builds cargo-fuzz nor adds rustfmt/clippy,
        // but mounts bpffs; the Dockerfile's build stage does neither.
        assert!(!Scope::Run.testing_tools() && Scope::Run.running());
        assert!(Scope::Full.testing_tools() && Scope::Full.running());
        assert!(!Scope::BuildOnly.testing_tools() && !Scope::BuildOnly.running());
    }

    #[test]
    fn bpf_linker_version_parsing() {
        assert_eq!(
            parse_bpf_linker_version("bpf-linker 0.13.0\n").as_deref(),
            Some("0.13.0")
        );
        assert_eq!(
            parse_bpf_linker_version("bpf-linker 0.9.14").as_deref(),
            Some("0.9.14")
        );
        assert_eq!(
            parse_bpf_linker_version("bpf-linker v0.13.0").as_deref(),
            Some("0.13.0")
        );
        assert_eq!(parse_bpf_linker_version(""), None);
        assert_eq!(parse_bpf_linker_version("bpf-linker"), None);
        assert_eq!(
            parse_bpf_linker_version("bpf-linker: error while loading shared libraries"),
            None
        );
        assert_eq!(parse_bpf_linker_version("other-tool 0.13.0"), None);
    }

    #[test]
    fn dpkg_status_parsing() {
        let out =
            "clang install ok installed\nllvm deinstall ok config-files\nm4 install ok installed\n";
        assert_eq!(parse_dpkg_installed(out), ["clang", "m4"]);
    }

    #[test]
    fn toolchain_list_parsing() {
        let list = "stable-x86_64-unknown-linux-gnu (active, default)\n\
                    nightly-x86_64-unknown-linux-gnu\n\
                    nightly-2026-10-15-x86_64-unknown-linux-gnu\n";
        assert!(toolchain_listed(list, "nightly-2026-10-15"));
        assert!(!toolchain_listed(list, "nightly-2026-10-14"));
        assert!(!toolchain_listed(
            "nightly-x86_64-unknown-linux-gnu\n",
            "nightly-2026-10-15"
        ));
        assert!(toolchain_listed(
            "nightly-2026-10-15\n",
            "nightly-2026-10-15"
        ));
    }

    #[test]
    fn component_list_parsing() {
        let list = "cargo-x86_64-unknown-linux-gnu\nrust-src\nrustc-x86_64-unknown-linux-gnu\n";
        assert!(component_listed(list, "rust-src"));
        assert!(!component_listed(
            "rust-std-x86_64-unknown-linux-gnu\n",
            "rust-src"
        ));
        assert!(!component_listed(list, "clippy"));
        assert!(component_listed(
            "clippy-x86_64-unknown-linux-gnu\nrust-src\n",
            "clippy"
        ));
    }

    #[test]
    fn toolchain_file_parsing() {
        let toml = "# a comment naming channel = \"no\"\n[toolchain]\n\
                    channel = \"nightly-2026-10-15\"\n\
                    components = [\"rust-src\", \"clippy\"]\n";
        assert_eq!(toolchain_channel(toml), "nightly-2026-10-15");
        assert_eq!(toolchain_components(toml), ["rust-src", "clippy"]);
        assert_eq!(toolchain_channel("channel=\"x\""), "x");
        assert!(toolchain_components("[toolchain]\n").is_empty());
        // The file in the tree: what userspace/build.rs builds with.
        assert!(NIGHTLY.starts_with("nightly-"), "{NIGHTLY}");
        assert!(nightly_components().iter().any(|c| c == "rust-src"));
    }

    #[test]
    fn llvm_library_choice() {
        let names: Vec<String> = [
            "libLLVM-23-rust-1.101.0-nightly.so",
            "libLLVM.so.23.1-rust-1.101.0-nightly",
            "librustc_driver-8ddbd174ff1ac129.so",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            pick_llvm_library(&names).as_deref(),
            Some("libLLVM.so.23.1-rust-1.101.0-nightly")
        );
        assert_eq!(pick_llvm_library(&["libLLVM.so.".to_string()]), None);
    }

    #[test]
    fn bpffs_detection() {
        let mounts = "sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw,relatime 0 0\n";
        assert!(is_bpffs_mounted(mounts, "/sys/fs/bpf"));
        assert!(!is_bpffs_mounted(
            "sysfs /sys sysfs rw 0 0\n",
            "/sys/fs/bpf"
        ));
        assert!(!is_bpffs_mounted(
            "tmpfs /sys/fs/bpf tmpfs rw 0 0\n",
            "/sys/fs/bpf"
        ));
    }
}
