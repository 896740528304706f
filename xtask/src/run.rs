//! `cargo xtask run`: build xdpstack, bring up the course lab, and run it on
//! the stack end in the foreground (or directly on `--iface` if given).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::netns::{
    is_root, Lab, LabOptions, COURSE_STACK_IF, COURSE_STACK_NS, PREFIX_LEN, PREFIX_LEN6,
    STACK_ADDR, STACK_ADDR6,
};
use crate::{cmd, lab, setup, target_dir, workspace_root};

/// The cargo profile to build xdpstack with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    /// The folder under `target/` that cargo builds this profile into.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// Builds and runs xdpstack; on success this does not return (the process
/// becomes xdpstack, so Ctrl-C and the exit code are xdpstack's own).
pub fn run(profile: Profile, args: &[String]) -> Result<()> {
    let in_lab = !has_flag(args, "--iface");
    if in_lab && !is_root() {
        bail!("`cargo xtask run` needs root for the lab and XDP: run it as root (or give --iface and run xdpstack yourself)");
    }
    let binary = build(profile)?;
    let argv = xdpstack_command_line(&binary, args);
    if in_lab {
        Lab::course(LabOptions::default())?;
        lab::attach_peer(&binary)?;
        println!(
            "lab is up: xdpstack runs in {COURSE_STACK_NS} on {COURSE_STACK_IF} as {STACK_ADDR}"
        );
        lab::print_hints();
    }
    println!("+ {}", argv.join(" "));
    let err = Command::new(&argv[0]).args(&argv[1..]).exec();
    bail!("cannot start `{}`: {err}", argv.join(" "))
}

/// Runs setup (what running needs) if needed, builds xdpstack and returns
/// the binary's path. With the `lab` feature: the lab needs `xdpstack
/// peer-attach`, the bench `xdpstack loadgen`, which the product build
/// leaves out.
pub fn build(profile: Profile) -> Result<PathBuf> {
    setup_if_missing(setup::Scope::Run)?;
    let mut build = Command::new("cargo");
    build
        .args(["build", "-p", "xdpstack", "--features", "lab"])
        .current_dir(workspace_root());
    if profile == Profile::Release {
        build.arg("--release");
    }
    cmd::status_ok(&mut build)?;
    Ok(target_dir().join(profile.dir()).join("xdpstack"))
}

/// Runs `setup` of `scope` first when any of its cheap checks fails.
pub fn setup_if_missing(scope: setup::Scope) -> Result<()> {
    let missing = setup::missing(scope);
    if missing.is_empty() {
        return Ok(());
    }
    println!("missing: {}; running setup first", missing.join("; "));
    setup::run_scope(scope)
}

/// The xdpstack command line: inside the lab's stack namespace on its veth
/// with 10.10.0.4/24 and fd00:10:10::4/64 (the lab's client has
/// fd00:10:10::2), unless `args` name an interface themselves.
pub fn xdpstack_command_line(binary: &Path, args: &[String]) -> Vec<String> {
    let binary = binary.display().to_string();
    let mut argv = Vec::new();
    if has_flag(args, "--iface") {
        argv.extend([binary, "run".to_string()]);
    } else {
        argv.extend(
            ["ip", "netns", "exec", COURSE_STACK_NS]
                .map(String::from)
                .into_iter()
                .chain([
                    binary,
                    "run".into(),
                    "--iface".into(),
                    COURSE_STACK_IF.into(),
                ]),
        );
        // The user's own --ip wins (clap would reject it given twice).
        if !has_flag(args, "--ip") {
            argv.extend(["--ip".to_string(), format!("{STACK_ADDR}/{PREFIX_LEN}")]);
        }
        // Likewise --ip6: given, the user's addresses are the whole list.
        if !has_flag(args, "--ip6") {
            argv.extend(["--ip6".to_string(), format!("{STACK_ADDR6}/{PREFIX_LEN6}")]);
        }
    }
    argv.extend(args.iter().cloned());
    argv
}

/// True if `args` contain `flag` as `--flag VALUE` or `--flag=VALUE`.
fn has_flag(args: &[String], flag: &str) -> bool {
    let with_value = format!("{flag}=");
    args.iter().any(|a| a == flag || a.starts_with(&with_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runs_in_the_lab_by_default() {
        let argv = xdpstack_command_line(Path::new("/w/target/release/xdpstack"), &[]);
        assert_eq!(
            argv,
            strings(&[
                "ip",
                "netns",
                "exec",
                "xdplab-stack",
                "/w/target/release/xdpstack",
                "run",
                "--iface",
                "veth-stack",
                "--ip",
                "10.10.0.4/24",
                "--ip6",
                "fd00:10:10::4/64",
            ])
        );
    }

    #[test]
    fn user_args_come_last() {
        let argv = xdpstack_command_line(Path::new("xdpstack"), &strings(&["--verbose"]));
        assert_eq!(argv.last().map(String::as_str), Some("--verbose"));
        assert_eq!(argv[0], "ip");
    }

    #[test]
    fn user_ip_replaces_the_default() {
        let argv =
            xdpstack_command_line(Path::new("xdpstack"), &strings(&["--ip", "10.10.0.9/24"]));
        assert_eq!(argv.iter().filter(|a| *a == "--ip").count(), 1);
        assert!(!argv.contains(&"10.10.0.4/24".to_string()));
        assert_eq!(argv[0], "ip");
    }

    #[test]
    fn iface_runs_directly_on_the_host() {
        for args in [
            strings(&["--iface", "eth1", "--ip", "192.0.2.4/24"]),
            strings(&["--iface=eth1"]),
        ] {
            let argv = xdpstack_command_line(Path::new("/t/xdpstack"), &args);
            let mut expected = strings(&["/t/xdpstack", "run"]);
            expected.extend(args.clone());
            assert_eq!(argv, expected);
        }
    }

    #[test]
    fn flag_matching_is_exact() {
        assert!(has_flag(&strings(&["--iface", "x"]), "--iface"));
        assert!(has_flag(&strings(&["--iface=x"]), "--iface"));
        assert!(!has_flag(&strings(&["--ifaces"]), "--iface"));
        assert!(!has_flag(&strings(&["--ipv6"]), "--ip"));
    }
}
