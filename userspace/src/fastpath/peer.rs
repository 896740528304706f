//! The `peer_counter` program (of the lab object, [`super::lab`]), attached
//! on the far end of a veth (the lab's client). It counts the replies that
//! arrive there and passes everything.
//!
//! It is also what makes the lab work: a veth end only receives frames its
//! peer sent with XDP_TX (or redirected) when it has NAPI on, and an
//! attached XDP program guarantees that. On the 6.18 kernels here turning GRO
//! on was not enough.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{MapData, PerCpuArray};
use aya::programs::links::FdLink;
use aya::programs::xdp::XdpLinkId;
use aya::programs::XdpMode;
use aya::Ebpf;
use serde::Serialize;
use xdpstack_common::counters::PeerCounter;
use xdpstack_common::names;

use super::lab;
use super::loader::program_mut;

/// Replies counted on the peer, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeerCounts {
    pub arp_replies: u64,
    pub echo_replies: u64,
    pub other: u64,
}

pub struct PeerProgram {
    ebpf: Ebpf,
    link: XdpLinkId,
    counters: PerCpuArray<MapData, u64>,
}

impl PeerProgram {
    /// Loads `peer_counter` and attaches it in native mode to `iface`, inside
    /// the network namespace `netns` (a name under /run/netns) if given.
    /// It stays attached while this value lives (or after `pin_link`).
    pub fn attach(netns: Option<&str>, iface: &str) -> Result<PeerProgram> {
        let netns = netns.map(str::to_string);
        let iface = iface.to_string();
        // setns() changes only the calling thread's namespace: do the attach
        // (which resolves the interface name) on a thread of its own.
        std::thread::spawn(move || -> Result<PeerProgram> {
            if let Some(ns) = &netns {
                enter_netns(ns)?;
            }
            let mut ebpf = lab::load()?;
            let program = program_mut(&mut ebpf, names::lab::PEER_PROGRAM)?;
            program.load().context("loading peer_counter")?;
            let link = program
                .attach(&iface, XdpMode::Driver)
                .with_context(|| format!("attaching peer_counter to {iface}"))?;
            let counters = PerCpuArray::try_from(
                ebpf.take_map(names::lab::PEER_COUNTERS_MAP)
                    .ok_or_else(|| anyhow!("{} missing", names::lab::PEER_COUNTERS_MAP))?,
            )?;
            Ok(PeerProgram {
                ebpf,
                link,
                counters,
            })
        })
        .join()
        .map_err(|_| anyhow!("the attach thread panicked"))?
    }

    pub fn counts(&self) -> Result<PeerCounts> {
        let get =
            |c: PeerCounter| -> Result<u64> { Ok(self.counters.get(&(c as u32), 0)?.iter().sum()) };
        Ok(PeerCounts {
            arp_replies: get(PeerCounter::ArpReplies)?,
            echo_replies: get(PeerCounter::EchoReplies)?,
            other: get(PeerCounter::Other)?,
        })
    }

    /// Pins the attachment at `path` (on a bpffs) so it outlives this
    /// process; it goes when the pin is removed or the interface is deleted.
    pub fn pin_link(mut self, path: &Path) -> Result<()> {
        let program = program_mut(&mut self.ebpf, names::lab::PEER_PROGRAM)?;
        let link = program.take_link(self.link)?;
        let fd_link = FdLink::try_from(link)
            .map_err(|e| anyhow!("the attachment cannot be pinned (netlink attach): {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        fd_link.pin(path).with_context(|| {
            format!("pinning the link at {} (is bpffs mounted?)", path.display())
        })?;
        Ok(())
    }
}

/// Moves the calling thread into the network namespace `name`.
pub fn enter_netns(name: &str) -> Result<()> {
    if name.contains('/') {
        bail!("bad namespace name {name}");
    }
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).with_context(|| format!("no network namespace {name} ({path})"))?;
    // SAFETY: plain syscall on a valid fd.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!(
            "entering namespace {name}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
