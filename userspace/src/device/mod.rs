//! Where frames leave the stack: a [`Device`] lends a buffer for one frame
//! through a [`TxToken`], and the protocols write the frame straight into it
//! (smoltcp's `phy::Device`/`TxToken::consume`). With an AF_XDP socket's
//! TX half as the device, that buffer is a free UMEM frame, so a reply is
//! written once, where the kernel reads it.
//!
//! - [`FrameQueue`]: frames kept in memory: the tests' device, and the
//!   stack's queue for frames made where no device is at hand;
//! - [`Faulty`]: a wrapper that drops, duplicates or corrupts frames on a
//!   seeded pattern, for tests of loss and damage (a packet-capture tap is
//!   another such wrapper).
//!
//! It sits between the wire formats and the stack: the stack writes into a
//! device, the hand-off (`xsk`) implements one; neither knows the other.

mod fault;
mod memory;

pub use fault::{FaultConfig, FaultCounters, Faulty};
pub use memory::FrameQueue;

/// A buffer for one outgoing frame.
pub trait TxToken {
    /// Lets `f` write a frame of `len` bytes (Ethernet header first) into
    /// the device's buffer, then hands the frame to the device. The
    /// buffer's previous contents are unspecified: `f` writes every byte.
    /// `len` is at most [`Device::max_frame_len`].
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R;
}

/// Something frames are sent through.
pub trait Device {
    type TxToken<'a>: TxToken
    where
        Self: 'a;

    /// A buffer for one frame, or `None` when every buffer is in use (the
    /// caller drops the frame and counts it, as a full ring would).
    fn transmit(&mut self) -> Option<Self::TxToken<'_>>;

    /// The longest frame a token holds, Ethernet header included.
    fn max_frame_len(&self) -> usize;
}

impl<D: Device> Device for &mut D {
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn transmit(&mut self) -> Option<Self::TxToken<'_>> {
        (**self).transmit()
    }

    fn max_frame_len(&self) -> usize {
        (**self).max_frame_len()
    }
}
