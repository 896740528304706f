//! The queues between shards: each worker has one mailbox, which every
//! other thread may post to, and an eventfd that wakes it from `ppoll`.
//!
//! Built on `std::sync::mpsc`: its bounded channel is a lock-free array
//! queue (a slot claimed by compare-and-swap), and the unbounded one a
//! lock-free list of blocks; neither locks unless a receiver blocks, and
//! workers never block in `recv` (they sleep in `ppoll` on the eventfd).
//! Messages from one sender arrive in the order sent.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;

use anyhow::{bail, Result};

/// A Linux eventfd, to wake a thread blocked in poll().
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            bail!("eventfd: {}", std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own fd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter; true if it had been signalled.
    pub fn clear(&self) -> bool {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own fd.
        let n = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        n == 8 && v > 0
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Counters of one mailbox, shared by its posters and its owner.
#[derive(Debug, Default)]
pub struct MailCounters {
    /// Frames posted (handed to this shard).
    pub frames_in: AtomicU64,
    /// Frames not posted: the bounded queue was full.
    pub frames_dropped: AtomicU64,
}

/// The posting end of a shard's mailbox; cheap to clone, one per sender.
pub struct Post<F, M> {
    frames: SyncSender<F>,
    msgs: Sender<M>,
    wake: Arc<EventFd>,
    counters: Arc<MailCounters>,
}

impl<F, M> Clone for Post<F, M> {
    fn clone(&self) -> Self {
        Post {
            frames: self.frames.clone(),
            msgs: self.msgs.clone(),
            wake: self.wake.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// The receiving end, owned by the shard's worker.
pub struct Mailbox<F, M> {
    frames: Receiver<F>,
    msgs: Receiver<M>,
    wake: Arc<EventFd>,
    counters: Arc<MailCounters>,
}

/// A mailbox holding at most `frames` handed-off frames (past that a frame
/// is dropped and counted, as a full RX ring would) and any number of
/// messages (bindings, control requests: few, and never to be lost).
pub fn mailbox<F, M>(frames: usize) -> Result<(Post<F, M>, Mailbox<F, M>)> {
    let (ftx, frx) = mpsc::sync_channel(frames);
    let (mtx, mrx) = mpsc::channel();
    let wake = Arc::new(EventFd::new()?);
    let counters = Arc::new(MailCounters::default());
    Ok((
        Post {
            frames: ftx,
            msgs: mtx,
            wake: wake.clone(),
            counters: counters.clone(),
        },
        Mailbox {
            frames: frx,
            msgs: mrx,
            wake,
            counters,
        },
    ))
}

impl<F, M> Post<F, M> {
    /// Queues a frame without waking the owner (call [`Post::wake`] once
    /// per batch). False when it was dropped: full, or the owner is gone.
    pub fn frame(&self, f: F) -> bool {
        match self.frames.try_send(f) {
            Ok(()) => {
                self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a message and wakes the owner. False if it is gone.
    pub fn message(&self, m: M) -> bool {
        let ok = self.msgs.send(m).is_ok();
        self.wake.signal();
        ok
    }

    /// Wakes the owner (after posting frames).
    pub fn wake(&self) {
        self.wake.signal();
    }

    pub fn counters(&self) -> &MailCounters {
        &self.counters
    }
}

impl<F, M> Mailbox<F, M> {
    /// The next message, if any (messages before frames: a binding may be
    /// what a handed-off frame's reply needs).
    pub fn message(&self) -> Option<M> {
        self.msgs.try_recv().ok()
    }

    /// The next handed-off frame, if any.
    pub fn frame(&self) -> Option<F> {
        self.frames.try_recv().ok()
    }

    /// Clears the wake-up; call before draining, so a post after the drain
    /// wakes the next sleep.
    pub fn clear_wake(&self) -> bool {
        self.wake.clear()
    }

    pub fn counters(&self) -> &MailCounters {
        &self.counters
    }
}

impl<F, M> AsRawFd for Mailbox<F, M> {
    fn as_raw_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_in_order_and_overflow_is_counted() {
        let (post, mb) = mailbox::<u32, ()>(4).unwrap();
        for i in 0..6 {
            let ok = post.frame(i);
            assert_eq!(ok, i < 4, "frame {i}");
        }
        assert_eq!(post.counters().frames_in.load(Ordering::Relaxed), 4);
        assert_eq!(mb.counters().frames_dropped.load(Ordering::Relaxed), 2);
        let got: Vec<u32> = std::iter::from_fn(|| mb.frame()).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert!(post.frame(9), "room again once drained");
        assert_eq!(mb.frame(), Some(9));
    }

    #[test]
    fn a_message_wakes_the_owner_and_frames_wait_for_wake() {
        let (post, mb) = mailbox::<u8, &'static str>(2).unwrap();
        assert!(!mb.clear_wake(), "nothing posted yet");
        assert!(post.frame(1));
        assert!(!mb.clear_wake(), "frames wake only when asked");
        post.wake();
        assert!(mb.clear_wake());
        assert!(!mb.clear_wake(), "cleared");
        assert!(post.message("hello"));
        assert!(mb.clear_wake());
        assert_eq!(mb.message(), Some("hello"));
        assert_eq!(mb.message(), None);
    }

    #[test]
    fn many_posters_keep_their_own_order_across_threads() {
        let (post, mb) = mailbox::<(u8, u32), ()>(1 << 16).unwrap();
        let threads: Vec<_> = (0..3u8)
            .map(|t| {
                let p = post.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        assert!(p.frame((t, i)));
                    }
                    p.wake();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut next = [0u32; 3];
        while let Some((t, i)) = mb.frame() {
            assert_eq!(i, next[usize::from(t)], "poster {t} out of order");
            next[usize::from(t)] += 1;
        }
        assert_eq!(next, [10_000; 3]);
    }

    #[test]
    fn posting_to_a_gone_shard_fails_without_panic() {
        let (post, mb) = mailbox::<u8, u8>(2).unwrap();
        drop(mb);
        assert!(!post.frame(1));
        assert!(!post.message(2));
    }
}
