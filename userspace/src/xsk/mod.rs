//! AF_XDP sockets: one per RX queue, receiving what the XDP program
//! redirects through the XSKMAP and sending what the stack answers.
//!
//! Each socket owns a UMEM split in two pools: frames lent to the kernel
//! through the fill ring for receiving, and frames kept for transmitting
//! (returned through the completion ring). On veth the kernel only offers
//! copy mode, whose TX runs when we kick it with `sendto` (TOOLCHAIN.md).
//! The TX half is the stack's [`Device`]: replies are written in place into
//! free TX frames, never built elsewhere and copied in.

use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use crate::device::{Device, TxToken};

/// Frames lent to the kernel for receiving (the fill ring's size).
const RX_FRAMES: u32 = 2048;
/// Frames kept for transmitting.
const TX_FRAMES: u32 = 2048;
/// 2048-byte frames hold a 1500-byte MTU frame plus headroom.
const FRAME_SIZE: u32 = 2048;
/// Frames handled per receive call; copy-mode TX sends a bounded number of
/// frames per `sendto` kick (the kernel's TX batch, 32 by default; 16 on
/// older kernels), so frames go on the ring in groups of that size and the
/// kick is repeated until the ring is drained.
const BATCH: usize = 64;
const TX_KICK_EVERY: usize = 32;
/// Kicks at most this many times per submit: each one makes progress
/// unless the kernel has no room (then the rest goes out next time).
const MAX_KICKS: usize = (TX_FRAMES as usize / 16) + 1;
/// The longest frame a TX frame holds: the frame less the kernel's
/// XDP_PACKET_HEADROOM.
const MAX_TX_FRAME: usize = FRAME_SIZE as usize - 256;

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
    /// TX kicks (`sendto`) made; copy mode sends a bounded number of
    /// frames per kick, so a large batch takes several.
    #[serde(default)]
    pub tx_kicks: u64,
    /// Frames this queue's shard handed to the shard that owns their flow.
    #[serde(default)]
    pub handoff_out: u64,
    /// Frames other shards handed to this one.
    #[serde(default)]
    pub handoff_in: u64,
    /// Frames for this shard dropped because its hand-off queue was full.
    #[serde(default)]
    pub handoff_dropped: u64,
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

/// One AF_XDP socket bound to one queue of one interface, in two halves:
/// receiving, and the TX half that is the stack's [`Device`] (so a frame
/// received can be answered while the RX half still lends it).
pub struct XskSocket {
    queue: u32,
    rx: XskRx,
    tx: XskTx,
    kernel: Option<XskKernelStats>,
    kernel_read_at: Instant,
    kernel_error_logged: bool,
}

/// The receiving half: the fill and RX rings and their frames.
struct XskRx {
    umem: Umem,
    fq: FillQueue,
    rx: RxQueue,
    batch: Vec<FrameDesc>,
    frames: u64,
}

/// The transmitting half: frames of its own pool are lent as
/// [`XskTxToken`]s, written by the stack in place, and put on the TX ring
/// in batches, with one kick per batch (copy mode sends at most
/// `TX_KICK_EVERY` frames per kick).
pub struct XskTx {
    queue: u32,
    umem: Umem,
    tx: TxQueue,
    cq: CompQueue,
    /// Frames not in any ring.
    free: Vec<FrameDesc>,
    /// Frames written and not yet on the TX ring.
    batch: Vec<FrameDesc>,
    cq_batch: Vec<FrameDesc>,
    frames: u64,
    ring_full: u64,
    too_big: u64,
    kicks: u64,
    kick_error_logged: bool,
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
            rx: XskRx {
                umem: umem.clone(),
                fq,
                rx,
                batch: vec![template; BATCH],
                frames: 0,
            },
            tx: XskTx {
                queue,
                umem,
                tx,
                cq,
                free: tx_free,
                batch: Vec::with_capacity(TX_KICK_EVERY),
                cq_batch: vec![template; TX_FRAMES as usize],
                frames: 0,
                ring_full: 0,
                too_big: 0,
                kicks: 0,
                kick_error_logged: false,
            },
            kernel: None,
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
        XskStats {
            rx_frames: self.rx.frames,
            tx_frames: self.tx.frames,
            tx_ring_full: self.tx.ring_full,
            tx_too_big: self.tx.too_big,
            tx_kicks: self.tx.kicks,
            kernel: self.kernel,
            ..XskStats::default()
        }
    }

    /// The TX half: the device the stack writes its frames into.
    pub fn tx(&mut self) -> &mut XskTx {
        &mut self.tx
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
        match self.rx.rx.fd().xdp_statistics() {
            Ok(k) => {
                self.kernel = Some(XskKernelStats {
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
    /// received (at most one batch), with the TX half to answer into.
    /// Returns how many were handled.
    pub fn recv(
        &mut self,
        timeout_ms: i32,
        mut handle: impl FnMut(&[u8], &mut XskTx),
    ) -> Result<usize> {
        let rx = &mut self.rx;
        // The worker sleeps in ppoll itself: a non-blocking receive only
        // reads the ring, with no syscall.
        let n = if timeout_ms == 0 {
            // SAFETY: the batch only receives descriptors; each is handed
            // back to the fill ring below, after its data was used.
            unsafe { rx.rx.consume(&mut rx.batch) }
        } else {
            // SAFETY: as above.
            unsafe { rx.rx.poll_and_consume(&mut rx.batch, timeout_ms) }
                .context("polling the AF_XDP socket")?
        };
        for desc in &rx.batch[..n] {
            // SAFETY: the kernel gave us this frame; nothing else uses it now
            // (the TX half writes only frames of its own pool).
            let data = unsafe { rx.umem.data(desc) };
            handle(data.contents(), &mut self.tx);
        }
        if n > 0 {
            rx.frames += n as u64;
            // SAFETY: the frames were consumed above and are ours to lend.
            unsafe { rx.fq.produce(&rx.batch[..n]) };
            if rx.fq.needs_wakeup() {
                rx.fq
                    .wakeup(rx.rx.fd_mut(), 0)
                    .context("waking the fill ring")?;
            }
        }
        Ok(n)
    }

    /// Puts the frames written since the last kick on the TX ring and kicks
    /// the kernel: once per batch of work. Copy mode has sent them when the
    /// kick returns, so their frames come back at once and the next batch
    /// reuses the same few, still in cache, instead of cycling through all.
    pub fn commit(&mut self) {
        self.tx.submit();
        self.tx.reclaim();
    }

    /// Frames put on the TX ring so far.
    pub fn tx_frames(&self) -> u64 {
        self.tx.frames
    }

    /// Whether frames wait on the TX ring because the last kick found the
    /// device busy: the worker then retries soon rather than sleeping.
    pub fn tx_pending(&mut self) -> bool {
        self.tx.on_ring() > 0
    }

    /// Whether received frames wait in the RX ring (no syscall).
    pub fn rx_ready(&mut self) -> bool {
        self.rx.rx.nb_avail(1) > 0
    }

    /// Asks the kernel to busy-poll this socket's NAPI context
    /// (SO_PREFER_BUSY_POLL, SO_BUSY_POLL for `usecs`, SO_BUSY_POLL_BUDGET
    /// `BATCH`) instead of relying on interrupts and softirqs; needs
    /// CAP_NET_ADMIN, so set before capabilities are dropped. It pays off
    /// with `napi_defer_hard_irqs` and `gro_flush_timeout` set on the
    /// device (see the README).
    pub fn set_busy_poll(&mut self, usecs: u32) -> Result<()> {
        let fd = self.as_raw_fd();
        for (name, opt, val) in [
            ("SO_PREFER_BUSY_POLL", SO_PREFER_BUSY_POLL, 1),
            (
                "SO_BUSY_POLL",
                libc::SO_BUSY_POLL,
                usecs.min(i32::MAX as u32) as i32,
            ),
            ("SO_BUSY_POLL_BUDGET", SO_BUSY_POLL_BUDGET, BATCH as i32),
        ] {
            // SAFETY: an int option of the size passed, on our own socket.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&val as *const i32).cast(),
                    std::mem::size_of::<i32>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(anyhow!(
                    "queue {}: setting {name}: {}",
                    self.queue,
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    }

    /// Lets the kernel busy-poll the socket's NAPI context once (a
    /// non-blocking `recvfrom`, which is what runs it with busy polling
    /// on); the frames land in the RX ring.
    pub fn busy_poll_once(&self) {
        // SAFETY: a zero-length, non-blocking receive on our own socket;
        // AF_XDP ignores the buffer.
        unsafe {
            libc::recvfrom(
                self.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
}

/// linux/asm-generic/socket.h; not in every libc crate version.
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

impl XskTx {
    /// Puts the written frames on the TX ring and kicks the kernel.
    fn submit(&mut self) {
        if self.batch.is_empty() {
            // What an earlier kick left on the ring (the device was busy).
            self.kick_until_sent();
            return;
        }
        // SAFETY: the frames were written by their tokens and are in no
        // ring; they come back through the completion ring.
        let mut n = unsafe { self.tx.produce(&self.batch) };
        if n < self.batch.len() {
            // The ring is full of frames not yet sent: kick, then retry once.
            self.kick_until_sent();
            // SAFETY: as above, for the frames the first produce left.
            n += unsafe { self.tx.produce(&self.batch[n..]) };
        }
        self.frames += n as u64;
        // What the ring had no room for is lost, like a full ring's drop.
        let lost = &self.batch[n.min(self.batch.len())..];
        self.ring_full += lost.len() as u64;
        self.free.extend_from_slice(lost);
        self.batch.clear();
        self.kick_until_sent();
    }

    /// Kicks the kernel (when the ring asks for it: XDP_USE_NEED_WAKEUP)
    /// until the TX ring is empty: each copy-mode kick sends at most the
    /// kernel's TX batch. Completions are reaped in one batch per kick.
    fn kick_until_sent(&mut self) {
        for _ in 0..MAX_KICKS {
            if !self.tx.needs_wakeup() {
                // Zero-copy drivers without the flag send by themselves.
                return;
            }
            let before = self.on_ring();
            if before == 0 {
                return;
            }
            self.kicks += 1;
            if let Err(e) = self.tx.wakeup() {
                if !self.kick_error_logged {
                    self.kick_error_logged = true;
                    log::error!("queue {}: kicking AF_XDP TX: {e}", self.queue);
                }
                return;
            }
            self.reclaim();
            let after = self.on_ring();
            // All taken by the kernel, or no progress (the device is busy):
            // the rest goes with the next batch's kick.
            if after == 0 || after >= before {
                return;
            }
        }
    }

    /// Descriptors on the TX ring the kernel has not taken yet (taken ones
    /// come back through the completion ring once the frame is freed).
    fn on_ring(&mut self) -> u32 {
        TX_FRAMES.saturating_sub(self.tx.nb_free_exact())
    }

    /// Takes back the TX frames the kernel has finished with.
    fn reclaim(&mut self) {
        // SAFETY: completed descriptors are ours again.
        let n = unsafe { self.cq.consume(&mut self.cq_batch) };
        self.free.extend_from_slice(&self.cq_batch[..n]);
    }
}

/// A free UMEM frame of [`XskTx`], written in place by `consume`.
pub struct XskTxToken<'a>(&'a mut XskTx);

impl TxToken for XskTxToken<'_> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let tx = self.0;
        // `transmit` made sure a frame is free.
        let Some(mut desc) = tx.free.pop() else {
            tx.ring_full += 1;
            return f(&mut vec![0; len]);
        };
        // SAFETY: the frame came from the free pool: not in any ring, and
        // only this token writes it.
        let mut data = unsafe { tx.umem.data_mut(&mut desc) };
        let mut cursor = data.cursor();
        cursor.set_pos(len);
        if cursor.pos() != len {
            // Larger than the frame: the stack checks `max_frame_len` first.
            tx.too_big += 1;
            tx.free.push(desc);
            return f(&mut vec![0; len]);
        }
        let r = f(data.contents_mut());
        tx.batch.push(desc);
        if tx.batch.len() >= TX_KICK_EVERY {
            tx.submit();
        }
        r
    }
}

impl Device for XskTx {
    type TxToken<'a> = XskTxToken<'a>;

    fn transmit(&mut self) -> Option<XskTxToken<'_>> {
        if self.free.is_empty() {
            self.reclaim();
        }
        if self.free.is_empty() {
            // Everything is on the ring or waiting for it: send what is
            // written, then look again.
            self.submit();
            self.reclaim();
        }
        if self.free.is_empty() {
            self.ring_full += 1;
            return None;
        }
        Some(XskTxToken(self))
    }

    fn max_frame_len(&self) -> usize {
        MAX_TX_FRAME
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.rx.rx.fd().as_raw_fd()
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
