//! `xdpstack loadgen cost` end to end (BPF_PROG_TEST_RUN, no namespaces):
//! the cost harness restores each request before every repetition, and the
//! run fails unless the fast path's counters show an answer for every one;
//! so this passing means the IPv4 head and the IPv6 head and tail (an NS
//! rewritten into its NA in all 86 bytes) are put back each time. Never a
//! timing assertion. Needs root (CAP_BPF); CI runs it as root.

mod support;

use support::root_or_skip;
use xdpstack::loadgen::{cost, CostArgs};

fn run(ipv6: bool) -> Vec<(String, usize, f64)> {
    let report = cost(&CostArgs {
        repeat: 2000,
        trials: 1,
        capture: false,
        ipv6,
    })
    .unwrap_or_else(|e| panic!("loadgen cost (ipv6 {ipv6}): {e:#}"));
    report
        .cases
        .iter()
        .map(|c| (c.kind.to_string(), c.payload, c.fastpath_ns))
        .collect()
}

#[test]
fn root_loadgen_cost_answers_every_repetition_of_both_families() {
    if !root_or_skip("root_loadgen_cost_answers_every_repetition_of_both_families") {
        return;
    }
    let v4 = run(false);
    let v6 = run(true);
    let shape = |cases: &[(String, usize, f64)]| -> Vec<(String, usize)> {
        cases.iter().map(|(k, p, _)| (k.clone(), *p)).collect()
    };
    assert_eq!(
        shape(&v4),
        [
            ("arp".into(), 0),
            ("echo".into(), 64),
            ("echo".into(), 1472)
        ]
    );
    assert_eq!(
        shape(&v6),
        [
            ("ns".into(), 0),
            ("echo6".into(), 64),
            ("echo6".into(), 1452)
        ]
    );
    for (kind, payload, ns) in v4.iter().chain(&v6) {
        assert!(ns.is_finite(), "{kind} {payload}: {ns}");
    }
}
