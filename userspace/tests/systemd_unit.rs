//! The systemd unit template `packaging/systemd/xdpstack@.service` and its
//! example environment file, checked against the code: ExecStart, expanded
//! as systemd would for an instance, goes through xdpstack's own argument
//! parser; the capabilities are the ones `xdpstack run` checks for; the
//! runtime directory is the control sockets' directory. Then `cargo xtask
//! install` into a scratch prefix, with the built binary, and `systemd-analyze
//! verify` (and `security --offline`) on the installed unit where systemd's
//! tools exist (systemd need not be running: these read files only).
//!
//! systemd is not PID 1 on the machines this runs on, so the root test runs
//! the unit's command line as the unit would, as far as that can be done
//! without systemd: the unit's capabilities as bounding, inheritable and
//! ambient sets with no_new_privs (setpriv), its UMask, and a private mount
//! namespace laid out as its ProtectSystem=strict, ProtectKernelTunables,
//! PrivateDevices, PrivateTmp and RuntimeDirectory lay it out. Its system
//! call filter and address families are not applied (README, "Run it as a
//! service", says how those were checked).

mod support;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use support::{kill, root_or_skip, wait_ready};
use xdpstack::cli::{Cli, Command as Sub};
use xtask::install::{install, InstallOptions, Layout, ENV_EXAMPLE, UNIT};
use xtask::netns::{Lab, LabOptions};

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `Key=value` settings per `[Section]`, in order (keys may repeat).
fn unit_settings(text: &str) -> HashMap<String, Vec<(String, String)>> {
    let mut sections: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        assert!(!line.ends_with('\\'), "no continuation lines: {line}");
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not Key=value: {line}"));
        sections
            .entry(current.clone())
            .or_default()
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    sections
}

fn one(sections: &HashMap<String, Vec<(String, String)>>, section: &str, key: &str) -> String {
    let values: Vec<&String> = sections
        .get(section)
        .unwrap_or_else(|| panic!("no [{section}]"))
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values.len(), 1, "{key}= in [{section}]: {values:?}");
    values[0].clone()
}

/// An EnvironmentFile: `VAR=value` lines, `#` comments, optional quotes.
fn env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not VAR=value: {l}"));
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// ExecStart as systemd.service(5) and systemd.exec(5) expand it for
/// `instance`: `%I`/`%i` specifiers, `${VAR}` as one word, a lone `$VAR`
/// split on whitespace into words (none if unset or empty).
fn expand_exec_start(line: &str, instance: &str, env: &HashMap<String, String>) -> Vec<String> {
    assert!(
        !line.contains(['"', '\'']),
        "quoting is not expanded here: {line}"
    );
    let line = line.replace("%I", instance).replace("%i", instance);
    let mut argv = Vec::new();
    for word in line.split_whitespace() {
        if let Some(var) = word.strip_prefix('$').filter(|v| !v.starts_with('{')) {
            argv.extend(
                env.get(var)
                    .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            continue;
        }
        let mut out = String::new();
        let mut rest = word;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            out.push_str(env.get(&rest[start + 2..end]).map_or("", String::as_str));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        argv.push(out);
    }
    argv
}

#[test]
fn exec_start_parses_with_the_real_parser() {
    let unit = unit_settings(&repo_file(UNIT));
    let env = env_file(&repo_file(ENV_EXAMPLE));
    let exec = one(&unit, "Service", "ExecStart");
    let instance = "enp1s0";
    let argv = expand_exec_start(&exec, instance, &env);
    assert_eq!(argv[0], "/usr/local/bin/xdpstack", "{argv:?}");
    let mut args = vec!["xdpstack".to_string()];
    args.extend(argv[1..].iter().cloned());
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let Sub::Run(run) = cli.command else {
        panic!("{args:?} is not `xdpstack run`")
    };
    assert_eq!(run.iface, instance, "the instance is the interface");
    let ip = env.get("XDPSTACK_IP").expect("XDPSTACK_IP in the example");
    assert_eq!(
        Some(run.ip),
        xdpstack::cli::parse_cidr(ip).ok(),
        "--ip comes from XDPSTACK_IP"
    );
    // XDPSTACK_ARGS reached the parser too.
    assert_eq!(run.gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(cli.log_format, xdpstack::logging::LogFormat::Json);
    // The example's address is a documentation one (RFC 5737), not a guess
    // at someone's network.
    assert!(ip.starts_with("192.0.2."), "{ip}");
    // Without XDPSTACK_ARGS the command line still parses; without
    // XDPSTACK_IP it does not (the parser names the missing value).
    let mut bare = env.clone();
    bare.remove("XDPSTACK_ARGS");
    let argv = expand_exec_start(&exec, instance, &bare);
    assert!(Cli::try_parse_from(&argv).is_ok(), "{argv:?}");
    bare.remove("XDPSTACK_IP");
    let argv = expand_exec_start(&exec, instance, &bare);
    assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
    assert_eq!(
        one(&unit, "Service", "EnvironmentFile"),
        "/etc/xdpstack/%I.env"
    );
}

#[test]
fn unit_grants_what_xdpstack_run_checks_for_and_no_more() {
    let unit = unit_settings(&repo_file(UNIT));
    let mut needed: Vec<&str> = xdpstack::daemon::NEEDED_CAPABILITIES
        .iter()
        .map(|(_, n)| *n)
        .collect();
    needed.sort();
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let value = one(&unit, "Service", key);
        let mut caps: Vec<&str> = value.split_whitespace().collect();
        caps.sort();
        assert_eq!(caps, needed, "{key}");
    }
    // systemd creates the control sockets' directory (ProtectSystem=strict
    // would stop the daemon making it) and keeps it while other instances
    // still have their sockets there.
    let dir = one(&unit, "Service", "RuntimeDirectory");
    assert_eq!(format!("/run/{dir}"), xdpstack::control::DEFAULT_DIR);
    assert_eq!(one(&unit, "Service", "RuntimeDirectoryPreserve"), "yes");
    assert_eq!(one(&unit, "Service", "Restart"), "on-failure");
    assert_eq!(one(&unit, "Service", "NoNewPrivileges"), "yes");
    // The UMEM is pinned memory charged to uid 0's memlock total.
    assert_eq!(one(&unit, "Service", "LimitMEMLOCK"), "infinity");
    let families = one(&unit, "Service", "RestrictAddressFamilies");
    for family in ["AF_XDP", "AF_NETLINK", "AF_UNIX"] {
        assert!(families.split_whitespace().any(|f| f == family), "{family}");
    }
    let filter = one(&unit, "Service", "SystemCallFilter");
    assert!(filter.split_whitespace().any(|s| s == "bpf"), "{filter}");
    // Settings that would break XDP or AF_XDP must not creep in.
    for (key, _) in unit.get("Service").expect("[Service]") {
        assert!(
            !["PrivateNetwork", "PrivateUsers", "User", "DynamicUser"].contains(&key.as_str()),
            "{key}= would break the daemon (see the unit's comments)"
        );
    }
    assert_eq!(
        one(&unit, "Unit", "BindsTo"),
        "sys-subsystem-net-devices-%i.device"
    );
    assert_eq!(one(&unit, "Install", "WantedBy"), "multi-user.target");
}

fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("systemd-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn xtask_install_then_systemd_analyze_verify() {
    let root = scratch("install");
    let opts = InstallOptions {
        prefix: root.join("usr/local"),
        sysconfdir: root.join("etc"),
        destdir: None,
        binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_xdpstack"))),
    };
    let written = install(&opts).expect("cargo xtask install");
    let layout = Layout::new(&opts.prefix, &opts.sysconfdir);
    for path in [
        &layout.binary,
        &layout.unit,
        &layout.env_example,
        &layout.bash,
        &layout.zsh,
        &layout.fish,
    ] {
        assert!(written.contains(path), "{} not installed", path.display());
        let meta = std::fs::metadata(path).expect("installed file");
        assert!(meta.len() > 0, "{} is empty", path.display());
    }
    assert!(written.contains(&layout.man1.join("xdpstack-run.1")));
    // The installed unit starts the installed binary, with the installed
    // environment directory.
    let unit = unit_settings(&std::fs::read_to_string(&layout.unit).expect("the unit"));
    let exec = one(&unit, "Service", "ExecStart");
    assert!(
        exec.starts_with(&format!("{} run ", layout.binary.display())),
        "{exec}"
    );

    if !command_exists("systemd-analyze") {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed (apt-get install systemd)");
        let _ = std::fs::remove_dir_all(&root);
        return;
    }
    // An instance of the template, as `systemctl start xdpstack@eth0` would
    // load it. MANPATH lets it find the pages Documentation= names.
    let instance = layout.unit.with_file_name("xdpstack@eth0.service");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&instance)
        .env("MANPATH", opts.prefix.join("share/man"))
        .output()
        .expect("systemd-analyze verify");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    println!(
        "systemd-analyze verify {}: {complaints}",
        instance.display()
    );
    assert!(verify.status.success(), "{complaints}");
    assert!(complaints.trim().is_empty(), "{complaints}");
    // The sandboxing, scored by systemd itself (0 is best, 10 worst; --threshold counts in tenths).
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=30", "--no-pager"])
        .arg(&instance)
        .output()
        .expect("systemd-analyze security");
    let report = String::from_utf8_lossy(&security.stdout);
    let score = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default()
        .to_string();
    println!("{score}");
    assert!(
        security.status.success(),
        "exposure above 3: {score}\n{}",
        String::from_utf8_lossy(&security.stderr)
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The mount namespace the unit's sandboxing options give the service, in
/// shell, ending by exec'ing `argv` under setpriv with `caps`. Runs inside
/// `unshare -m` (private propagation), so nothing leaks to the host.
fn sandbox_script(caps: &[String], umask: &str, runtime_dir: &str) -> String {
    let caps = caps
        .iter()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"set -e
mount --make-rprivate /
mkdir -p /run/{runtime_dir}
mount -t tmpfs -o mode=0755 tmpfs /run/{runtime_dir}
mount -t tmpfs tmpfs /tmp
mkdir /tmp/dev
mount -t tmpfs -o mode=0755 tmpfs /tmp/dev
for d in null zero full random urandom tty; do touch /tmp/dev/$d; mount --bind /dev/$d /tmp/dev/$d; done
mount --move /tmp/dev /dev
mount -o remount,bind,ro /
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
umask {umask}
exec setpriv --no-new-privs --bounding-set -all,{caps} --inh-caps -all,{caps} --ambient-caps -all,{caps} "$@"
"#
    )
}

#[test]
fn root_the_units_command_serves_inside_its_sandbox() {
    if !root_or_skip("root_the_units_command_serves_inside_its_sandbox") {
        return;
    }
    for tool in ["setpriv", "unshare", "nsenter"] {
        if !support::command_exists(tool) {
            eprintln!("SKIPPED: {tool} is not installed (util-linux)");
            return;
        }
    }
    let unit = unit_settings(&repo_file(UNIT));
    let caps: Vec<String> = one(&unit, "Service", "CapabilityBoundingSet")
        .split_whitespace()
        .map(String::from)
        .collect();
    let umask = one(&unit, "Service", "UMask");
    let runtime_dir = one(&unit, "Service", "RuntimeDirectory");
    let lab = Lab::test(LabOptions::default()).expect("creating the test lab");
    let iface = lab.stack().iface().to_string();
    let env: HashMap<String, String> = [
        ("XDPSTACK_IP", "10.10.0.4/24"),
        ("XDPSTACK_ARGS", "--mode skb --log-format json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut argv = expand_exec_start(&one(&unit, "Service", "ExecStart"), &iface, &env);
    argv[0] = env!("CARGO_BIN_EXE_xdpstack").to_string();
    // ip netns exec, unshare (no --fork), sh and setpriv all exec: the
    // child is the daemon itself.
    let mut command = vec![
        "unshare".to_string(),
        "-m".into(),
        "sh".into(),
        "-c".into(),
        sandbox_script(&caps, &umask, &runtime_dir),
        "sandbox".into(),
    ];
    command.extend(argv);
    let mut daemon = lab
        .stack()
        .command(&command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the sandboxed daemon");
    let pid = daemon.id() as i32;
    let mut stderr = daemon.stderr.take().expect("piped stderr");
    wait_ready(&mut daemon, String::new);

    let ping = lab
        .client()
        .exec(["ping", "-n", "-c", "2", "-W", "1", "10.10.0.4"])
        .expect("ping");
    let curl = lab
        .client()
        .exec([
            "curl",
            "-s",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://10.10.0.4/",
        ])
        .expect("curl");
    // The control socket, reached in the daemon's own mount namespace.
    let stats = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-m",
            "-n",
            env!("CARGO_BIN_EXE_xdpstack"),
            "stats",
            "--json",
        ])
        .output()
        .expect("nsenter xdpstack stats");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let socket_mode = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "stat", "-c", "%a"])
        .arg(format!("/run/{runtime_dir}/{iface}.sock"))
        .output()
        .expect("nsenter stat");

    // The sandbox is real: the daemon's root and /sys cannot be written.
    let writable: Vec<bool> = [
        "/xdpstack-probe",
        "/sys/xdpstack-probe",
        "/proc/sys/xdpstack-probe",
    ]
    .iter()
    .map(|p| {
        Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "touch", p])
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .collect();

    kill(pid, libc::SIGTERM);
    let start = Instant::now();
    let exit = loop {
        if let Ok(Some(s)) = daemon.try_wait() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = daemon.kill();
            break daemon.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    let _ = stderr.read_to_string(&mut log);
    drop(lab);

    // Were the sandbox broken, the probe would be on the host's root.
    let _ = std::fs::remove_file("/xdpstack-probe");
    assert_eq!(writable, [false; 3], "read-only /, /sys, /proc/sys");
    assert!(ping.status.success(), "ping: {log}");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "200", "{log}");
    assert!(
        stats.status.success(),
        "stats: {}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert!(stats.is_object() || stats.is_array(), "{stats}");
    assert_eq!(String::from_utf8_lossy(&socket_mode.stdout).trim(), "600");
    for field in ["CapEff", "CapPrm", "CapAmb"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_default();
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
    // The log went out as JSON lines, as the example env file asks.
    assert!(
        log.lines().count() >= 2
            && log
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{log}"
    );
    assert!(exit.is_some_and(|s| s.success()), "exit {exit:?}: {log}");
}
