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

use anyhow::{bail, Result};

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

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
    let mut dropped = Dropped::default();
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    let mut all_dropped = true;
    for cap in 0..=last {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            // EPERM without CAP_SETPCAP; EINVAL for caps the kernel lacks.
            all_dropped = false;
            break;
        }
    }
    dropped.bounding_set = all_dropped;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!("setting no_new_privs: {}", std::io::Error::last_os_error());
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads a valid header and two data structs (version 3).
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if r != 0 {
        bail!(
            "dropping capabilities (capset): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(dropped)
}

/// The effective capability mask of this thread, from /proc.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
}
