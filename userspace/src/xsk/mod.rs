//! AF_XDP sockets: one per RX queue, receiving what the XDP program
//! redirects through the XSKMAP and sending what the stack answers.
//!
//! Each socket owns a UMEM split in two pools: frames lent to the kernel
//! through the fill ring for receiving, and frames kept for transmitting
//! (returned through the completion ring). On veth the kernel only offers
//! copy mode, whose TX runs when we kick it with `sendto` (TOOLCHAIN.md).

use std::io::Write;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Frames lent to the kernel for receiving (the fill ring's size).
const RX_FRAMES: u32 = 2048;
/// Frames kept for transmitting.
const TX_FRAMES: u32 = 2048;
/// 2048-byte frames hold a 1500-byte MTU frame plus headroom.
const FRAME_SIZE: u32 = 2048;
/// Frames handled per receive call; copy-mode TX sends at most 32 frames
/// per `sendto` kick, so sends are kicked in groups of that size.
const BATCH: usize = 64;
const TX_KICK_EVERY: usize = 32;

/// Counters of one socket, for `xdpstack stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct XskStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Frames not sent because every TX frame was in flight.
    pub tx_ring_full: u64,
    /// Frames not sent because they do not fit a UMEM frame.
    pub tx_too_big: u64,
    /// The kernel's own counters of this socket (getsockopt XDP_STATISTICS),
    /// as of the last refresh; absent when the kernel would not give them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<XskKernelStats>,
}

/// What the kernel counts for an AF_XDP socket (`struct xdp_statistics`,
/// linux/if_xdp.h). These are the losses between the XDP program's
/// redirect and our RX ring, invisible from userspace otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct XskKernelStats {
    /// Frames dropped on receive: no fill-ring frame to copy into, or too
    /// big for a UMEM frame.
    pub rx_dropped: u64,
    /// Fill-ring descriptors the kernel rejected (bad address or length).
    pub rx_invalid_descs: u64,
    /// TX-ring descriptors the kernel rejected.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty when kicked.
    pub tx_ring_empty_descs: u64,
}

/// How often a worker re-reads the kernel's counters: a syscall, so not
/// per batch; `xdpstack stats` is at most this stale.
pub const KERNEL_STATS_EVERY: Duration = Duration::from_millis(100);

/// One AF_XDP socket bound to one queue of one interface.
pub struct XskSocket {
    queue: u32,
    umem: Umem,
    fq: FillQueue,
    cq: CompQueue,
    rx: RxQueue,
    tx: TxQueue,
    rx_batch: Vec<FrameDesc>,
    tx_free: Vec<FrameDesc>,
    cq_batch: Vec<FrameDesc>,
    stats: XskStats,
    kernel_read_at: Instant,
    kernel_error_logged: bool,
}

impl XskSocket {
    /// Opens a socket on `iface` queue `queue`. libxdp is told not to load
    /// its own XDP program: ours redirects into the socket through the XSKMAP.
    pub fn open(iface: &str, queue: u32) -> Result<Self> {
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| anyhow!("{e}"))?)
            .fill_queue_size(QueueSize::new(RX_FRAMES).map_err(|e| anyhow!("{e}"))?)
            .comp_queue_size(QueueSize::new(TX_FRAMES).map_err(|e| anyhow!("{e}"))?)
            .build()
            .map_err(|e| anyhow!("UMEM config: {e}"))?;
        let frames = NonZeroU32::new(RX_FRAMES + TX_FRAMES).ok_or_else(|| anyhow!("no frames"))?;
        let (umem, mut descs) =
            Umem::new(umem_config, frames, false).context("creating the AF_XDP UMEM")?;
        let socket_config = SocketConfig::builder()
            .rx_queue_size(QueueSize::new(RX_FRAMES).map_err(|e| anyhow!("{e}"))?)
            .tx_queue_size(QueueSize::new(TX_FRAMES).map_err(|e| anyhow!("{e}"))?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let if_name: Interface = iface
            .parse()
            .map_err(|e| anyhow!("bad interface name {iface}: {e}"))?;
        // SAFETY: the UMEM is not shared with another socket.
        let (tx, rx, fq_cq) = unsafe { Socket::new(socket_config, &umem, &if_name, queue) }
            .map_err(|e| anyhow!("opening an AF_XDP socket on {iface} queue {queue}: {e}"))?;
        let (mut fq, cq) = fq_cq.ok_or_else(|| anyhow!("AF_XDP socket without fill ring"))?;

        let tx_free = descs.split_off(RX_FRAMES as usize);
        // SAFETY: these frames are fresh and not in any other ring.
        let lent = unsafe { fq.produce(&descs) };
        if lent != descs.len() {
            return Err(anyhow!(
                "could only lend {lent} of {} frames to the fill ring",
                descs.len()
            ));
        }
        let template = descs[0];
        let mut sock = XskSocket {
            queue,
            umem,
            fq,
            cq,
            rx,
            tx,
            rx_batch: vec![template; BATCH],
            tx_free,
            cq_batch: vec![template; TX_FRAMES as usize],
            stats: XskStats::default(),
            kernel_read_at: Instant::now(),
            kernel_error_logged: false,
        };
        sock.refresh_kernel_stats();
        Ok(sock)
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    pub fn stats(&self) -> XskStats {
        self.stats
    }

    /// Re-reads the kernel's counters if the last read is older than
    /// `KERNEL_STATS_EVERY`. Called by the worker that owns the socket.
    pub fn maybe_refresh_kernel_stats(&mut self) {
        if self.kernel_read_at.elapsed() >= KERNEL_STATS_EVERY {
            self.refresh_kernel_stats();
        }
    }

    /// Reads the kernel's counters (getsockopt XDP_STATISTICS). On failure
    /// (a kernel older than 5.9 returns a shorter struct) the last values
    /// are kept, or none were ever read, and it is logged once.
    pub fn refresh_kernel_stats(&mut self) {
        self.kernel_read_at = Instant::now();
        match self.rx.fd().xdp_statistics() {
            Ok(k) => {
                self.stats.kernel = Some(XskKernelStats {
                    rx_dropped: k.rx_dropped(),
                    rx_invalid_descs: k.rx_invalid_descs(),
                    tx_invalid_descs: k.tx_invalid_descs(),
                    rx_ring_full: k.rx_ring_full(),
                    rx_fill_ring_empty_descs: k.rx_fill_ring_empty_descs(),
                    tx_ring_empty_descs: k.tx_ring_empty_descs(),
                })
            }
            Err(e) if !self.kernel_error_logged => {
                self.kernel_error_logged = true;
                log::warn!(
                    "queue {}: reading the AF_XDP socket's statistics: {e}",
                    self.queue
                );
            }
            Err(_) => {}
        }
    }

    /// Waits up to `timeout_ms` for frames and calls `handle` on each one
    /// received (at most one batch). Returns how many were handled.
    pub fn recv(&mut self, timeout_ms: i32, mut handle: impl FnMut(&[u8])) -> Result<usize> {
        // SAFETY: rx_batch only receives descriptors; each is handed back
        // to the fill ring below, after its data was used.
        let n = unsafe { self.rx.poll_and_consume(&mut self.rx_batch, timeout_ms) }
            .context("polling the AF_XDP socket")?;
        for desc in &self.rx_batch[..n] {
            // SAFETY: the kernel gave us this frame; nothing else uses it now.
            let data = unsafe { self.umem.data(desc) };
            handle(data.contents());
        }
        if n > 0 {
            self.stats.rx_frames += n as u64;
            // SAFETY: the frames were consumed above and are ours to lend.
            unsafe { self.fq.produce(&self.rx_batch[..n]) };
            if self.fq.needs_wakeup() {
                self.fq
                    .wakeup(self.rx.fd_mut(), 0)
                    .context("waking the fill ring")?;
            }
        }
        Ok(n)
    }

    /// Queues `frames` for transmission and kicks the kernel. Frames that do
    /// not fit (too big, or no TX frame free) are counted and skipped.
    pub fn send<B: AsRef<[u8]>>(&mut self, frames: &[B]) -> Result<usize> {
        self.reclaim();
        let mut sent = 0;
        for (i, frame) in frames.iter().enumerate() {
            let bytes = frame.as_ref();
            if bytes.len() > (FRAME_SIZE as usize) - 256 {
                self.stats.tx_too_big += 1;
                continue;
            }
            let Some(mut desc) = self.tx_free.pop() else {
                self.stats.tx_ring_full += 1;
                continue;
            };
            // SAFETY: the frame came from the free pool: not in any ring.
            let written = unsafe { self.umem.data_mut(&mut desc) }
                .cursor()
                .write_all(bytes);
            if written.is_err() {
                self.tx_free.push(desc);
                self.stats.tx_too_big += 1;
                continue;
            }
            // SAFETY: as above; it returns through the completion ring.
            if unsafe { self.tx.produce_one(&desc) } == 0 {
                self.tx_free.push(desc);
                self.stats.tx_ring_full += 1;
                continue;
            }
            sent += 1;
            if (i + 1) % TX_KICK_EVERY == 0 {
                self.tx.wakeup().context("kicking AF_XDP TX")?;
            }
        }
        if sent > 0 {
            self.tx.wakeup().context("kicking AF_XDP TX")?;
            self.stats.tx_frames += sent as u64;
        }
        Ok(sent)
    }

    /// Takes back the TX frames the kernel has finished with.
    fn reclaim(&mut self) {
        // SAFETY: completed descriptors are ours again.
        let n = unsafe { self.cq.consume(&mut self.cq_batch) };
        self.tx_free.extend_from_slice(&self.cq_batch[..n]);
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_counters_are_nested_and_absent_when_unread() {
        let mut s = XskStats {
            rx_frames: 5,
            ..Default::default()
        };
        let v = serde_json::to_value(s).unwrap();
        assert!(v.get("kernel").is_none(), "{v}");
        assert_eq!(v["rx_frames"], 5);

        s.kernel = Some(XskKernelStats {
            rx_dropped: 1,
            rx_invalid_descs: 2,
            tx_invalid_descs: 3,
            rx_ring_full: 4,
            rx_fill_ring_empty_descs: 5,
            tx_ring_empty_descs: 6,
        });
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(
            v["kernel"],
            serde_json::json!({
                "rx_dropped": 1,
                "rx_invalid_descs": 2,
                "tx_invalid_descs": 3,
                "rx_ring_full": 4,
                "rx_fill_ring_empty_descs": 5,
                "tx_ring_empty_descs": 6,
            })
        );
    }
}
