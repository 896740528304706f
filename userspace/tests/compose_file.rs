//! docker-compose.yml and the Dockerfile, checked against the code: CI has
//! no Docker engine, so this is what keeps them from drifting. The stack's
//! command line goes through the real argument parser, its capabilities are
//! compared with the ones `xdpstack run` checks for, and the images must
//! hold the tools the course runs in them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use clap::Parser;
use xdpstack::cli::{Cli, Command};
use xdpstack::fastpath::AttachMode;
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&repo_file("docker-compose.yml")).expect("valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.into_iter().next().expect("a document")
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_vec()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn keys(v: &Yaml) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_hash()
        .unwrap_or_else(|| panic!("not a mapping: {v:?}"))
        .keys()
        .map(|k| k.as_str().expect("a string key").to_string())
        .collect();
    k.sort();
    k
}

fn address(service: &Yaml) -> Ipv4Addr {
    service["networks"]["lab"]["ipv4_address"]
        .as_str()
        .expect("an ipv4_address on network lab")
        .parse()
        .expect("an IPv4 address")
}

fn address6(service: &Yaml) -> Ipv6Addr {
    service["networks"]["lab"]["ipv6_address"]
        .as_str()
        .expect("an ipv6_address on network lab")
        .parse()
        .expect("an IPv6 address")
}

/// The network's subnets, `10.10.0.0/24` -> (network, prefix), in order.
fn subnets(doc: &Yaml) -> Vec<(IpAddr, u8)> {
    let config = doc["networks"]["lab"]["ipam"]["config"]
        .as_vec()
        .expect("ipam config list");
    config
        .iter()
        .map(|c| {
            let text = c["subnet"].as_str().expect("a subnet");
            let (net, prefix) = text.split_once('/').expect("a prefix length");
            (
                net.parse().expect("a network"),
                prefix.parse().expect("a number"),
            )
        })
        .collect()
}

/// The one IPv4 subnet.
fn subnet(doc: &Yaml) -> (Ipv4Addr, u8) {
    let v4: Vec<(Ipv4Addr, u8)> = subnets(doc)
        .into_iter()
        .filter_map(|(net, prefix)| match net {
            IpAddr::V4(net) => Some((net, prefix)),
            IpAddr::V6(_) => None,
        })
        .collect();
    assert_eq!(v4.len(), 1, "one IPv4 subnet");
    v4[0]
}

/// The one IPv6 subnet.
fn subnet6(doc: &Yaml) -> (Ipv6Addr, u8) {
    let v6: Vec<(Ipv6Addr, u8)> = subnets(doc)
        .into_iter()
        .filter_map(|(net, prefix)| match net {
            IpAddr::V6(net) => Some((net, prefix)),
            IpAddr::V4(_) => None,
        })
        .collect();
    assert_eq!(v6.len(), 1, "one IPv6 subnet");
    v6[0]
}

fn in_subnet6(ip: Ipv6Addr, (net, prefix): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX << (128 - u32::from(prefix));
    u128::from(ip) & mask == u128::from(net) & mask
}

/// A `pub const NAME: &str = "...";` of xtask/src/netns.rs, the lab's
/// addresses: the compose file must give the containers the same.
fn lab_const(name: &str) -> String {
    let text = repo_file("xtask/src/netns.rs");
    let prefix = format!("pub const {name}: ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in xtask/src/netns.rs"));
    let value = line[prefix.len()..]
        .split('=')
        .nth(1)
        .expect("a value")
        .trim()
        .trim_end_matches(';')
        .trim_matches('"');
    value.to_string()
}

fn in_subnet(ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX << (32 - u32::from(prefix));
    u32::from(ip) & mask == u32::from(net) & mask
}

#[test]
fn services_network_and_addresses() {
    let doc = compose();
    assert_eq!(keys(&doc["services"]), ["client", "stack"]);
    assert_eq!(doc["networks"]["lab"]["driver"].as_str(), Some("bridge"));
    let net = subnet(&doc);
    assert_eq!(net, (Ipv4Addr::new(10, 10, 0, 0), 24));
    let stack = &doc["services"]["stack"];
    let client = &doc["services"]["client"];
    assert_eq!(address(stack), Ipv4Addr::new(10, 10, 0, 4));
    assert_eq!(address(client), Ipv4Addr::new(10, 10, 0, 2));
    assert!(in_subnet(address(stack), net) && in_subnet(address(client), net));
    // Both families, as the lab: one IPv4 and one IPv6 subnet, the ULA
    // fd00:10:10::/64 with the client at ::2 and the stack at ::4.
    assert_eq!(subnets(&doc).len(), 2, "one subnet per family");
    assert_eq!(doc["networks"]["lab"]["enable_ipv6"].as_bool(), Some(true));
    let net6 = subnet6(&doc);
    assert_eq!(net6, ("fd00:10:10::".parse().unwrap(), 64));
    assert!(in_subnet6(address6(stack), net6) && in_subnet6(address6(client), net6));
    for (service, name, name6) in [
        (stack, "STACK_ADDR", "STACK_ADDR6"),
        (client, "CLIENT_ADDR", "CLIENT_ADDR6"),
    ] {
        assert_eq!(address(service).to_string(), lab_const(name));
        assert_eq!(address6(service).to_string(), lab_const(name6));
    }
    assert_eq!(net.1.to_string(), lab_const("PREFIX_LEN"));
    assert_eq!(net6.1.to_string(), lab_const("PREFIX_LEN6"));
    // No `version:` key: the Compose Specification, which docker-compose
    // 1.27+ reads with `enable_ipv6` (older releases' 3.x schemas reject it).
    assert!(doc["version"].is_badvalue(), "no version key");
    // Each service is built from its own stage of the repository's Dockerfile.
    for (service, stage) in [(stack, "stack"), (client, "client")] {
        assert_eq!(service["build"]["context"].as_str(), Some("."));
        assert_eq!(service["build"]["target"].as_str(), Some(stage));
    }
    // The client turns TSO off (in skb mode AF_XDP frames cannot hold TCP
    // super-frames), then stays up for `docker compose exec client ...`;
    // TX checksum offload stays at its default, since xdpstack accepts the
    // partial checksums: no `tx off` workaround any more.
    let command = strings(&client["command"]);
    assert_eq!(command[..2], ["sh", "-c"]);
    let script = &command[2];
    assert!(script.starts_with("ethtool -K eth0 tso off"), "{script}");
    assert!(!script.contains("tx off"), "{script}");
    assert!(script.ends_with("exec sleep infinity"), "{script}");
    assert!(stage_packages("client").contains(&"ethtool".to_string()));
    // `sleep` as PID 1 ignores SIGTERM: an init makes `docker compose down` quick.
    assert_eq!(client["init"].as_bool(), Some(true));
}

#[test]
fn stack_command_is_accepted_by_the_real_parser_and_matches_the_network() {
    let doc = compose();
    let stack = &doc["services"]["stack"];
    let argv = strings(&stack["command"]);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Run(run) = cli.command else {
        panic!("{argv:?} is not `xdpstack run`")
    };
    assert_eq!(
        run.iface, "eth0",
        "Docker names the container's interface eth0"
    );
    // xdpstack serves the address Docker gives the container, with the
    // network's prefix, so the client's kernel and the stack agree on-link.
    assert_eq!(run.ip, (address(stack), subnet(&doc).1));
    // And the IPv6 address Docker gives it, with the prefix's length.
    assert_eq!(run.ip6, [(address6(stack), subnet6(&doc).1)]);
    assert_eq!(
        run.mode,
        AttachMode::Auto,
        "auto picks skb mode on the container's veth"
    );
    assert_eq!(
        run.control_dir.to_str(),
        Some(xdpstack::control::DEFAULT_DIR)
    );
    // The Dockerfile's default command for the stack image is the same.
    let stack_stage = stage(&repo_file("Dockerfile"), "stack");
    let cmd = stack_stage
        .iter()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD in the stack stage");
    let quoted: Vec<String> = cmd
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    assert_eq!(quoted, argv);
}

#[test]
fn stack_has_the_capabilities_xdpstack_run_checks_for() {
    let doc = compose();
    let stack = &doc["services"]["stack"];
    let caps = strings(&stack["cap_add"]);
    let has = |c: &str| caps.iter().any(|have| have == c);
    // SYS_ADMIN stands in for BPF and PERFMON (older Docker engines refuse
    // those names, and their seccomp profile wants SYS_ADMIN for bpf()),
    // never for NET_ADMIN (attaching XDP) or NET_RAW (AF_XDP sockets).
    assert!(has("SYS_ADMIN"), "{caps:?}");
    for (_, name) in xdpstack::daemon::NEEDED_CAPABILITIES {
        let short = name.trim_start_matches("CAP_");
        let covered = has(short) || (matches!(short, "BPF" | "PERFMON") && has("SYS_ADMIN"));
        assert!(covered, "cap_add lacks {short}");
    }
    assert!(has("NET_ADMIN") && has("NET_RAW"));
    assert!(
        stack["privileged"].is_badvalue(),
        "capabilities, not privileged"
    );
    // The AF_XDP UMEM is pinned memory: IPC_LOCK exempts it from RLIMIT_MEMLOCK.
    assert!(has("IPC_LOCK"));
    // The control socket's directory is a fresh tmpfs.
    assert!(strings(&stack["tmpfs"])
        .iter()
        .any(|t| t == xdpstack::control::DEFAULT_DIR));
    // The client needs raw sockets for ping, arping and tcpdump.
    assert!(strings(&doc["services"]["client"]["cap_add"]).contains(&"NET_RAW".to_string()));
}

#[test]
fn documented_commands_parse() {
    // The usage lines at the top of the compose file.
    let text = repo_file("docker-compose.yml");
    let mut checked = 0;
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        // `-T`: the output is piped to a command on the host (after `|`).
        let Some(rest) = line
            .strip_prefix("docker compose exec stack ")
            .or_else(|| line.strip_prefix("docker compose exec -T stack "))
        else {
            continue;
        };
        let command = rest.split(['#', '|']).next().unwrap_or("").trim();
        let words: Vec<&str> = command.split_whitespace().collect();
        if words.first() == Some(&"xdpstack") {
            Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{command}: {e}"));
            checked += 1;
        } else {
            // Anything else run in the stack container must be in its image.
            let tool = words.first().copied().unwrap_or("");
            assert!(
                stage_packages("stack").iter().any(|p| p == tool),
                "`{command}`: {tool} is not installed in the stack image"
            );
        }
    }
    assert!(checked >= 2, "usage lines for xdpstack arp and stats");
}

/// The logical lines (continuations joined) of one `FROM ... AS name` stage.
fn stage(dockerfile: &str, name: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for raw in dockerfile.lines() {
        let l = raw.trim();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(l);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let header = |l: &String| l.starts_with("FROM ");
    let start = lines
        .iter()
        .position(|l| header(l) && l.ends_with(&format!(" AS {name}")))
        .unwrap_or_else(|| panic!("no stage {name} in the Dockerfile"));
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !header(l))
        .map(|(_, l)| l.clone())
        .collect()
}

/// The packages a stage installs with apt-get.
fn stage_packages(name: &str) -> Vec<String> {
    let lines = stage(&repo_file("Dockerfile"), name);
    let mut packages = Vec::new();
    for l in lines.iter().filter(|l| l.starts_with("RUN ")) {
        for command in l.split("&&") {
            let words: Vec<&str> = command.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "install") {
                if words.get(at.wrapping_sub(1)) == Some(&"apt-get") {
                    packages.extend(
                        words[at + 1..]
                            .iter()
                            .filter(|w| !w.starts_with('-'))
                            .map(|w| w.to_string()),
                    );
                }
            }
        }
    }
    packages
}

#[test]
fn images_hold_what_the_course_runs() {
    // The stack image: the binary's one extra shared library, and the tools
    // the course runs next to xdpstack.
    let stack = stage_packages("stack");
    for p in ["libelf1", "iproute2", "tcpdump"] {
        assert!(stack.contains(&p.to_string()), "stack stage lacks {p}");
    }
    let client = stage_packages("client");
    for p in [
        "iputils-ping",
        "arping",
        "tcpdump",
        "iproute2",
        "curl",
        "netcat-openbsd",
        // `ndisc6 fd00:10:10::4 eth0`: Neighbor Discovery answered in XDP.
        "ndisc6",
    ] {
        assert!(client.contains(&p.to_string()), "client stage lacks {p}");
    }
    let dockerfile = repo_file("Dockerfile");
    let build = stage(&dockerfile, "build").join("\n");
    // The toolchains come the way users and CI get them.
    assert!(build.contains("cargo xtask setup"), "{build}");
    assert!(build.contains("cargo build --release --locked -p xdpstack"));
    let runtime = stage(&dockerfile, "stack").join("\n");
    assert!(runtime.contains("COPY --from=build /usr/local/bin/xdpstack /usr/local/bin/xdpstack"));
    // The stack stage comes last: plain `docker build .` makes the stack image.
    let last_from = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("FROM "))
        .unwrap_or("");
    assert!(last_from.ends_with(" AS stack"), "{last_from}");
}

#[test]
fn dockerignore_keeps_build_output_out_of_the_context() {
    let ignore = repo_file(".dockerignore");
    let entries: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for e in ["target", "xdp-ebpf/target", ".git"] {
        assert!(entries.contains(&e), ".dockerignore lacks {e}");
    }
}
