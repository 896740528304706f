//! Loading and attaching the XDP program with aya.

use std::fmt;
use std::os::fd::AsRawFd;

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{Array, MapData, PerCpuArray, RingBuf, XskMap};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use xdpstack_common::config::FastpathConfig;
use xdpstack_common::names;

use super::counters::XdpCounters;
use super::link;

/// The compiled XDP object, built by `build.rs` from `xdp-ebpf/`: the
/// product's program alone (bench and lab programs: `fastpath::lab`).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdpstack.bpf.o"));

/// How to attach (`--mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) mode where XDP_TX replies can arrive, else generic (skb) mode.
    // The decision: `auto_plan`.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode: works everywhere, slower.
    Skb,
}

/// The mode the program ended up attached in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    Native,
    Skb,
}

impl fmt::Display for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attached::Native => "native",
            Attached::Skb => "skb",
        })
    }
}

/// The mode the program was attached in and why, for the log and
/// `xdpstack stats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachOutcome {
    pub mode: Attached,
    pub reason: String,
}

impl AttachOutcome {
    fn new(mode: Attached, reason: String) -> Self {
        AttachOutcome { mode, reason }
    }
}

/// What `--mode auto` tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Native mode only.
    Native,
    /// Generic (skb) mode only.
    Skb,
    /// Native mode, and skb mode if the driver has no native XDP.
    NativeElseSkb,
}

/// What the interface's veth peer (if it is a veth) says about native XDP_TX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VethPeer {
    /// Not a veth (or it could not be told): XDP_TX leaves through the driver.
    NotVeth,
    /// A veth whose peer has a native XDP program, hence NAPI: it receives
    /// XDP_TX'd frames.
    NativeXdp { peer: String },
    /// A veth whose peer has no native XDP program: the kernel drops the
    /// frames sent there with XDP_TX.
    NoNativeXdp { peer: String },
    /// A veth whose peer we cannot inspect (another namespace without
    /// CAP_NET_ADMIN there, say): nothing says it would receive XDP_TX'd frames.
    Unseen { why: String },
}

/// Looks at `iface` and, if it is a veth, at its peer (through rtnetlink,
/// across namespaces: see [`super::link`]).
pub fn veth_peer(iface: &str) -> VethPeer {
    let Ok(index) = super::iface::index(iface) else {
        return VethPeer::NotVeth;
    };
    let ours = match link::query(index, None) {
        Ok(info) => info,
        Err(e) => {
            log::debug!("rtnetlink query of {iface} failed ({e}); treating it as not a veth");
            return VethPeer::NotVeth;
        }
    };
    if ours.kind.as_deref() != Some("veth") {
        return VethPeer::NotVeth;
    }
    let Some(peer_index) = ours.link else {
        return VethPeer::Unseen {
            why: "the kernel names no peer".to_string(),
        };
    };
    let place = match ours.link_netnsid {
        Some(id) => format!("ifindex {peer_index} in the namespace with id {id}"),
        None => format!("ifindex {peer_index} in this namespace"),
    };
    match link::query(peer_index, ours.link_netnsid) {
        Ok(info) => {
            let peer = format!("{} ({place})", info.name);
            if info.has_native_xdp() {
                VethPeer::NativeXdp { peer }
            } else {
                VethPeer::NoNativeXdp { peer }
            }
        }
        Err(e) => VethPeer::Unseen {
            why: format!("reading peer {place}: {e}"),
        },
    }
}

/// `--mode auto`'s choice for `iface`, and the reason it gives.
///
/// A veth delivers XDP_TX'd frames into its peer's NAPI ring and drops them
/// when the peer has none (`veth_xdp_xmit` in the kernel); a native XDP
/// program on the peer gives it one (on the 6.18 kernels tried, turning GRO
/// on did not). In skb (generic) mode XDP_TX goes through the device's
/// normal transmit path instead, which every peer receives: slower, but a
/// Docker container's eth0, whose peer sits in the host's bridge with
/// nothing attached, then answers.
pub fn auto_plan(iface: &str, peer: &VethPeer) -> (Plan, String) {
    const SKB_WHY: &str = "XDP_TX replies sent natively would be dropped there (a veth \
                           peer receives them only with NAPI, i.e. its own native XDP program); \
                           in skb mode they take the normal transmit path (slower; \
                           --mode native overrides)";
    match peer {
        VethPeer::NotVeth => (
            Plan::NativeElseSkb,
            format!("{iface} is not a veth: native mode, XDP_TX leaves through its driver"),
        ),
        VethPeer::NativeXdp { peer } => (
            Plan::NativeElseSkb,
            format!(
                "{iface} is a veth whose peer {peer} has a native XDP program, so it \
                 receives XDP_TX replies"
            ),
        ),
        VethPeer::NoNativeXdp { peer } => (
            Plan::Skb,
            format!("{iface} is a veth whose peer {peer} has no native XDP program: {SKB_WHY}"),
        ),
        VethPeer::Unseen { why } => (
            Plan::Skb,
            format!("{iface} is a veth whose peer cannot be inspected ({why}): {SKB_WHY}"),
        ),
    }
}

/// The loaded program and its maps. Dropping it detaches the program (the
/// bpf_link dies with the last file descriptor, so even SIGKILL detaches).
pub struct Fastpath {
    ebpf: Ebpf,
    counters: PerCpuArray<MapData, u64>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl Fastpath {
    /// Loads the program into the kernel (verifier included) and writes its
    /// configuration; nothing is attached yet.
    pub fn load(config: FastpathConfig) -> Result<Self> {
        // aya-log filters in the kernel by this global: below debug, the
        // verifier removes the per-packet log calls entirely.
        let level: u8 = match log::max_level() {
            log::LevelFilter::Off => 0,
            log::LevelFilter::Error => 1,
            log::LevelFilter::Warn => 2,
            log::LevelFilter::Info => 3,
            log::LevelFilter::Debug => 4,
            log::LevelFilter::Trace => 5,
        };
        let mut ebpf = EbpfLoader::new()
            .override_global(aya_log::LEVEL, &level, false)
            .load(OBJECT)
            .map_err(|e| explain_load_error(anyhow!(e)))?;
        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                log::debug!("eBPF logs unavailable: {e}");
                None
            }
        };
        let program: &mut Xdp = program_mut(&mut ebpf, names::PROGRAM)?;
        program
            .load()
            .map_err(|e| explain_load_error(anyhow!(e).context("loading the XDP program")))?;
        let mut config_map: Array<&mut MapData, FastpathConfig> = Array::try_from(
            ebpf.map_mut(names::CONFIG_MAP)
                .ok_or_else(|| anyhow!("map {} missing from the object", names::CONFIG_MAP))?,
        )?;
        config_map
            .set(0, config, 0)
            .context("writing the fast path config")?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map(names::COUNTERS_MAP)
                .ok_or_else(|| anyhow!("map {} missing from the object", names::COUNTERS_MAP))?,
        )?;
        Ok(Fastpath {
            ebpf,
            counters,
            logger,
        })
    }

    /// Attaches to `iface` through a bpf_link, in the mode `mode` asks for;
    /// `--mode auto` decides with [`auto_plan`]. Says which mode and why.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<AttachOutcome> {
        let program: &mut Xdp = program_mut(&mut self.ebpf, names::PROGRAM)?;
        let try_mode = |p: &mut Xdp, m: XdpMode| p.attach(iface, m).map(|_| ());
        let plan = match mode {
            AttachMode::Native => (Plan::Native, "--mode native".to_string()),
            AttachMode::Skb => (Plan::Skb, "--mode skb".to_string()),
            AttachMode::Auto => auto_plan(iface, &veth_peer(iface)),
        };
        match plan {
            (Plan::Native, reason) => try_mode(program, XdpMode::Driver)
                .map(|_| AttachOutcome::new(Attached::Native, reason))
                .map_err(|e| explain_attach_error(iface, e)),
            (Plan::Skb, reason) => try_mode(program, XdpMode::Skb)
                .map(|_| AttachOutcome::new(Attached::Skb, reason))
                .map_err(|e| explain_attach_error(iface, e)),
            (Plan::NativeElseSkb, reason) => match try_mode(program, XdpMode::Driver) {
                Ok(()) => Ok(AttachOutcome::new(Attached::Native, reason)),
                Err(e) if is_busy(&e) => Err(explain_attach_error(iface, e)),
                Err(e) => {
                    let reason =
                        format!("native XDP is not available on {iface} ({e}); skb mode is slower");
                    try_mode(program, XdpMode::Skb)
                        .map(|_| AttachOutcome::new(Attached::Skb, reason))
                        .map_err(|e| explain_attach_error(iface, e))
                }
            },
        }
    }

    /// The main program, for `BPF_PROG_TEST_RUN`.
    pub fn program(&self) -> Result<&Xdp> {
        program_ref(&self.ebpf, names::PROGRAM)
    }

    pub fn counters(&self) -> Result<XdpCounters> {
        XdpCounters::read(&self.counters)
    }

    /// Puts the AF_XDP socket `fd` in the XSKMAP slot of `queue`.
    pub fn register_socket(&mut self, queue: u32, fd: &impl AsRawFd) -> Result<()> {
        let mut map: XskMap<&mut MapData> = XskMap::try_from(
            self.ebpf
                .map_mut(names::XSKS_MAP)
                .ok_or_else(|| anyhow!("map {} missing", names::XSKS_MAP))?,
        )?;
        if queue >= map.len() {
            bail!("queue {queue} is beyond the XSKMAP's {} slots", map.len());
        }
        map.set(queue, fd.as_raw_fd(), 0)
            .with_context(|| format!("registering the AF_XDP socket of queue {queue}"))
    }

    /// Takes the neighbour event ring (once).
    pub fn take_neigh_events(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map(names::NEIGH_EVENTS_MAP)
            .ok_or_else(|| anyhow!("neighbour event ring already taken"))?;
        Ok(RingBuf::try_from(map)?)
    }

    /// Takes the capture ring (once): the frames and XDP_TX replies the
    /// program copies while `FLAG_CAPTURE` is set (`xdpstack capture`).
    pub fn take_capture_ring(&mut self) -> Result<RingBuf<MapData>> {
        Ok(RingBuf::try_from(self.take_capture_map()?)?)
    }

    /// Takes the capture ring's map (once) without mapping it: mmap maps a
    /// ring's pages all at once, twice its size in resident memory, so the
    /// daemon maps it only while a capture runs (`RingBuf::try_from(&map)`).
    pub fn take_capture_map(&mut self) -> Result<aya::maps::Map> {
        self.ebpf
            .take_map(names::CAPTURE_MAP)
            .ok_or_else(|| anyhow!("capture ring already taken"))
    }

    /// The configuration the program reads now.
    pub fn config(&self) -> Result<FastpathConfig> {
        let map: Array<&MapData, FastpathConfig> = Array::try_from(
            self.ebpf
                .map(names::CONFIG_MAP)
                .ok_or_else(|| anyhow!("map {} missing from the object", names::CONFIG_MAP))?,
        )?;
        Ok(map.get(&0, 0)?)
    }

    /// Sets or clears `flag` in the running program's configuration (a
    /// single-entry array update, which the program sees from its next frame).
    pub fn set_flag(&mut self, flag: u32, on: bool) -> Result<()> {
        let mut config = self.config()?;
        if on {
            config.flags |= flag;
        } else {
            config.flags &= !flag;
        }
        let mut map: Array<&mut MapData, FastpathConfig> = Array::try_from(
            self.ebpf
                .map_mut(names::CONFIG_MAP)
                .ok_or_else(|| anyhow!("map {} missing from the object", names::CONFIG_MAP))?,
        )?;
        map.set(0, config, 0)
            .context("writing the fast path config")
    }

    /// The eBPF log ring's descriptor, readable when log lines wait (the
    /// daemon flushes on that instead of on a timer); open while `self` is.
    pub fn log_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.logger.as_ref().map(|l| l.as_raw_fd())
    }

    /// Forwards pending eBPF log lines to the `log` crate.
    pub fn flush_logs(&mut self) {
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
    }
}

/// The XDP program `name` of the object.
pub(crate) fn program_ref<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp> {
    ebpf.program(name)
        .ok_or_else(|| anyhow!("program {name} missing from the object"))?
        .try_into()
        .map_err(|e: ProgramError| anyhow!(e))
}

/// The XDP program `name` of the object, to load or attach.
pub(crate) fn program_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    ebpf.program_mut(name)
        .ok_or_else(|| anyhow!("program {name} missing from the object"))?
        .try_into()
        .map_err(|e: ProgramError| anyhow!(e))
}

/// EBUSY: a program is attached in the mode asked for; EEXIST: one is
/// attached in the other mode (native and skb cannot be mixed).
fn is_busy(e: &ProgramError) -> bool {
    matches!(e, ProgramError::SyscallError(s)
        if matches!(s.io_error.raw_os_error(), Some(libc::EBUSY) | Some(libc::EEXIST)))
}

fn explain_attach_error(iface: &str, e: ProgramError) -> anyhow::Error {
    match &e {
        ProgramError::UnknownInterface { .. } => {
            anyhow!("no interface named '{iface}' (see `ip link show`)")
        }
        _ if is_busy(&e) => anyhow!(
            "another XDP program is already attached to {iface}; detach it first \
             (`ip link set dev {iface} xdp off`) or stop the other xdpstack"
        ),
        ProgramError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::EPERM) => anyhow!(
            "not permitted to attach XDP to {iface}: run as root (CAP_BPF and CAP_NET_ADMIN)"
        ),
        _ => anyhow!("attaching XDP to {iface} failed: {e}"),
    }
}

fn explain_load_error(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("Operation not permitted") || text.contains("EPERM") {
        return anyhow!(
            "not permitted to load eBPF programs: run as root or with CAP_BPF, CAP_NET_ADMIN \
             and CAP_PERFMON ({text})"
        );
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_uses_skb_on_a_veth_whose_peer_cannot_take_xdp_frames() {
        let docker = VethPeer::NoNativeXdp {
            peer: "veth1a2b3c (ifindex 7 in the namespace with id 0)".into(),
        };
        let (plan, why) = auto_plan("eth0", &docker);
        assert_eq!(plan, Plan::Skb);
        assert!(why.contains("veth1a2b3c") && why.contains("no native XDP program"));

        let unseen = VethPeer::Unseen {
            why: "Operation not permitted".into(),
        };
        assert_eq!(auto_plan("eth0", &unseen).0, Plan::Skb);
    }

    #[test]
    fn auto_uses_native_elsewhere() {
        let lab = VethPeer::NativeXdp {
            peer: "veth-client (ifindex 2 in the namespace with id 0)".into(),
        };
        assert_eq!(auto_plan("veth-stack", &lab).0, Plan::NativeElseSkb);
        assert_eq!(
            auto_plan("enp3s0", &VethPeer::NotVeth).0,
            Plan::NativeElseSkb
        );
    }
}
