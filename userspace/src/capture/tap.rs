//! The AF_XDP transmit tap as a device wrapper (`device`, like `Faulty`):
//! every frame the stack writes through it reaches the inner device
//! unchanged and, while a capture client is connected, the [`Hub`] as an
//! `xsk tx` record.

use super::{Direction, Hub};
use crate::device::{Device, TxToken};

/// `inner`, with what is sent through it shown to capture clients.
pub struct Tap<'h, D> {
    inner: D,
    hub: &'h Hub,
}

impl<'h, D: Device> Tap<'h, D> {
    pub fn new(inner: D, hub: &'h Hub) -> Self {
        Tap { inner, hub }
    }
}

/// A token of [`Tap`]: the inner device's, recorded once written.
pub struct TapToken<'h, T> {
    inner: T,
    hub: &'h Hub,
}

impl<T: TxToken> TxToken for TapToken<'_, T> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let hub = self.hub;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            hub.tap_xsk(Direction::Out, buf);
            r
        })
    }
}

impl<'h, D: Device> Device for Tap<'h, D> {
    type TxToken<'a>
        = TapToken<'h, D::TxToken<'a>>
    where
        Self: 'a;

    fn transmit(&mut self) -> Option<Self::TxToken<'_>> {
        let hub = self.hub;
        self.inner.transmit().map(|inner| TapToken { inner, hub })
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Filter;
    use crate::device::FrameQueue;
    use std::sync::Arc;

    fn send(dev: &mut impl Device, bytes: &[u8]) {
        let t = dev.transmit().expect("room");
        t.consume(bytes.len(), |b| b.copy_from_slice(bytes));
    }

    #[test]
    fn frames_pass_unchanged_and_are_recorded_only_while_capturing() {
        let hub = Arc::new(Hub::new());
        let mut q = FrameQueue::new(8, 1514);
        send(&mut Tap::new(&mut q, &hub), &[1, 2, 3]);
        let mut sub = hub.subscribe(Filter::Both, 100);
        send(&mut Tap::new(&mut q, &hub), &[4, 5, 6, 7]);
        let sent: Vec<Vec<u8>> = q.drain().collect();
        assert_eq!(sent, vec![vec![1, 2, 3], vec![4, 5, 6, 7]]);
        let r = sub.rx.try_recv().unwrap();
        assert_eq!(
            (r.dir, r.path.as_str(), r.data),
            (Direction::Out, "xsk tx", vec![4, 5, 6, 7])
        );
        assert!(sub.rx.try_recv().is_err());
    }
}
