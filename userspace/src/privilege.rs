//! Least privilege for `xdpstack run`: once the XDP program is loaded and
//! attached, the AF_XDP sockets are bound and the control socket listens,
//! the daemon needs no capability at all, so it drops every one of them.
//!
//! What the daemon still does afterwards, and why none of it needs a
//! capability (checked by running the netns suites with the drop in place):
//! - reading the per-CPU counter map and writing nothing else: map lookups
//!   on a map fd it already holds (kernel >= 6.5 checks capabilities only
//!   when maps and programs are created);
//! - consuming the neighbour event ring and the eBPF log ring: mmap'd
//!   memory and epoll on fds it holds;
//! - AF_XDP receive and send: rings in its UMEM and `sendto` kicks on a
//!   bound socket;
//! - answering the control socket (already bound, mode 0600) and removing
//!   its file at exit: the daemon keeps uid 0, which owns `/run/xdpstack`;
//! - detaching at exit: closing the bpf_link fd, which needs no capability;
//! - noticing that the interface is gone: `if_nametoindex`.
//!
//! Capabilities are per thread in Linux, so this runs on the main thread
//! before any worker thread is started: threads inherit the dropped set.
//! The capget/capset/prctl calls go through the `caps` crate.

use anyhow::{bail, Context, Result};
use caps::CapSet;

/// What [`drop_all`] managed to drop, for the log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The bounding set was cleared too (needs CAP_SETPCAP, which a daemon
    /// started with only its four capabilities does not have; `no_new_privs`
    /// then still stops an exec from gaining any).
    pub bounding_set: bool,
}

/// Drops every capability of the calling thread (effective, permitted,
/// inheritable, ambient), clears the bounding set when allowed, and sets
/// `no_new_privs` so no later exec can regain any.
pub fn drop_all() -> Result<Dropped> {
    // Ambient first: a capability cannot stay ambient once it leaves the
    // permitted set anyway, but clearing it explicitly says what we mean.
    caps::clear(None, CapSet::Ambient).context("clearing the ambient capability set")?;
    // EPERM without CAP_SETPCAP: not an error, the log line says so.
    let cleared = caps::clear(None, CapSet::Bounding).is_ok();
    // The crate drops the capabilities it knows by name; the kernel may know
    // more, so /proc has the last word on whether the set is empty.
    let bounding_set = cleared && bounding() == Some(0);
    // SAFETY: prctl with integer arguments only (the caps crate has no
    // wrapper for no_new_privs).
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!("setting no_new_privs: {}", std::io::Error::last_os_error());
    }
    // Inheritable before permitted: clearing permitted writes the current
    // inheritable set back with it (one capset of all three sets).
    caps::clear(None, CapSet::Inheritable).context("clearing the inheritable capability set")?;
    // Clearing permitted clears effective too.
    caps::clear(None, CapSet::Permitted).context("dropping capabilities (capset)")?;
    Ok(Dropped { bounding_set })
}

/// The effective capability mask of this thread, from /proc.
pub fn effective() -> Option<u64> {
    status_mask("CapEff:")
}

/// The bounding set of this thread, from /proc.
fn bounding() -> Option<u64> {
    status_mask("CapBnd:")
}

fn status_mask(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capabilities, the bounding set and `no_new_privs` are all per thread,
    /// so a thread of its own drops them without touching the test runner.
    #[test]
    fn a_thread_that_drops_holds_no_capability() {
        let any_before = effective().is_some_and(|e| e != 0);
        // CAP_SETPCAP (8) is what dropping from the bounding set takes.
        let setpcap = effective().is_some_and(|e| e & (1 << 8) != 0);
        let (dropped, masks) = std::thread::spawn(|| {
            let dropped = drop_all().expect("drop_all");
            let masks: Vec<Option<u64>> = ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"]
                .into_iter()
                .map(status_mask)
                .collect();
            let nnp = std::fs::read_to_string("/proc/thread-self/status")
                .unwrap_or_default()
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NoNewPrivs:", "1"]);
            assert!(nnp, "no_new_privs is set");
            (dropped, masks)
        })
        .join()
        .expect("the dropping thread");
        assert_eq!(masks, [Some(0); 4]);
        // With CAP_SETPCAP the bounding set goes too; without it, not.
        assert_eq!(dropped.bounding_set, setpcap);
        // The test runner's own thread kept what it had.
        assert_eq!(effective().is_some_and(|e| e != 0), any_before);
    }
}
