//! Root-only: creates real test labs (namespaces, veth pair) and checks that
//! dropping them removes everything. Skips, saying so, when not root.

use std::process::Command;

use xtask::netns::{self, is_root, Lab, LabOptions, OnDrop, CLIENT_ADDR, STACK_ADDR};

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("skipping {test}: needs root (network namespaces and veth pairs)");
    true
}

/// IPv4 addresses (with prefix) on `iface` in `ns`.
fn ipv4_addrs(ns: &str, iface: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "-4", "addr", "show", "dev", iface])
        .output()
        .expect("ip runs");
    assert!(out.status.success(), "ip addr show failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next().map(str::to_string)
        })
        .collect()
}

#[test]
fn root_test_lab_is_created_and_dropped() {
    if skip_unless_root("root_test_lab_is_created_and_dropped") {
        return;
    }
    let lab = Lab::test(LabOptions::default()).expect("create test lab");
    assert_eq!(lab.on_drop(), OnDrop::Delete);
    let (client, stack) = (lab.client().clone(), lab.stack().clone());
    assert!(client.iface().len() <= netns::MAX_IFNAME_LEN);
    assert!(stack.iface().len() <= netns::MAX_IFNAME_LEN);

    let all = netns::namespaces().expect("list namespaces");
    assert!(all.iter().any(|n| n == client.ns()), "{all:?}");
    assert!(all.iter().any(|n| n == stack.ns()), "{all:?}");
    assert!(netns::link_exists(client.ns(), client.iface()));
    assert!(netns::link_exists(stack.ns(), stack.iface()));

    // The client has 10.10.0.2/24; the stack end has no kernel address.
    assert_eq!(
        ipv4_addrs(client.ns(), client.iface()),
        [format!("{CLIENT_ADDR}/24")]
    );
    assert!(ipv4_addrs(stack.ns(), stack.iface()).is_empty());
    assert_eq!(stack.kernel_addr(), None);

    // GRO on the client end, so XDP_TX'd frames are received (veth NAPI).
    let features = client
        .exec_ok(["ethtool", "-k", client.iface()])
        .expect("ethtool -k");
    assert!(
        features.contains("generic-receive-offload: on"),
        "{features}"
    );

    // MACs are readable, unicast, and differ between the ends.
    let (client_mac, stack_mac) = (client.mac().expect("mac"), stack.mac().expect("mac"));
    assert_eq!(client_mac[0] & 1, 0, "multicast MAC {client_mac:02x?}");
    assert_ne!(client_mac, stack_mac);

    // exec runs inside the namespace: only lo and our veth are there.
    let links = client.exec_ok(["ip", "-o", "link"]).expect("ip link");
    assert!(links.contains(client.iface()), "{links}");
    assert!(!links.contains(stack.iface()), "{links}");

    drop(lab);
    let all = netns::namespaces().expect("list namespaces");
    assert!(!all.iter().any(|n| n == client.ns()), "{all:?}");
    assert!(!all.iter().any(|n| n == stack.ns()), "{all:?}");
    // The veth ends were never in the host namespace; check they are not there now.
    assert!(!host_has(client.iface()) && !host_has(stack.iface()));
}

fn host_has(iface: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", iface])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn root_test_lab_kernel_mode_answers_ping() {
    if skip_unless_root("root_test_lab_kernel_mode_answers_ping") {
        return;
    }
    let lab = Lab::test(LabOptions {
        stack_kernel_addr: true,
    })
    .expect("create test lab");
    assert_eq!(lab.stack().kernel_addr(), Some("10.10.0.4/24"));
    assert_eq!(
        ipv4_addrs(lab.stack().ns(), lab.stack().iface()),
        [format!("{STACK_ADDR}/24")]
    );
    // Linux in the stack namespace answers: the veth pair carries traffic.
    let out = lab
        .client()
        .exec(["ping", "-c", "1", "-W", "2", STACK_ADDR])
        .expect("run ping");
    assert!(
        out.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (client_ns, stack_ns) = (lab.client().ns().to_string(), lab.stack().ns().to_string());
    lab.delete().expect("delete test lab");
    let all = netns::namespaces().expect("list namespaces");
    assert!(
        !all.contains(&client_ns) && !all.contains(&stack_ns),
        "{all:?}"
    );
}

#[test]
fn root_parallel_test_labs_get_distinct_names() {
    if skip_unless_root("root_parallel_test_labs_get_distinct_names") {
        return;
    }
    let a = Lab::test(LabOptions::default()).expect("first lab");
    let b = Lab::test(LabOptions::default()).expect("second lab");
    assert_ne!(a.client().ns(), b.client().ns());
    assert_ne!(a.stack().iface(), b.stack().iface());
}
