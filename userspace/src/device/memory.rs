//! A device that keeps frames in memory.

use super::{Device, TxToken};

/// What a fresh buffer holds before the stack writes it: not zero, so a
/// test notices a writer that leaves bytes unwritten (a reused UMEM frame
/// would leak old data there).
const FILL: u8 = 0xa5;

/// Frames in memory, in the order they were sent, at most `capacity` of
/// them (then `transmit` gives no token, as a full TX ring would). The
/// tests' device, and the stack's queue for frames made by calls that have
/// no device at hand (they go out at the next flush).
#[derive(Debug)]
pub struct FrameQueue {
    frames: Vec<Vec<u8>>,
    capacity: usize,
    max_frame_len: usize,
}

impl FrameQueue {
    pub fn new(capacity: usize, max_frame_len: usize) -> FrameQueue {
        FrameQueue {
            frames: Vec::new(),
            capacity,
            max_frame_len,
        }
    }

    /// The frames sent so far, oldest first.
    pub fn frames(&self) -> &[Vec<u8>] {
        &self.frames
    }

    /// Takes every frame sent so far, oldest first.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.frames)
    }

    /// Moves the frames out one by one, oldest first.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Vec<u8>> {
        self.frames.drain(..)
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn clear(&mut self) {
        self.frames.clear();
    }
}

/// A token of [`FrameQueue`]: a new buffer, appended on consume.
pub struct QueueToken<'a>(&'a mut FrameQueue);

impl TxToken for QueueToken<'_> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = vec![FILL; len];
        let r = f(&mut buf);
        self.0.frames.push(buf);
        r
    }
}

impl Device for FrameQueue {
    type TxToken<'a> = QueueToken<'a>;

    fn transmit(&mut self) -> Option<QueueToken<'_>> {
        (self.frames.len() < self.capacity).then_some(QueueToken(self))
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_frames_in_order_up_to_its_capacity() {
        let mut q = FrameQueue::new(2, 1514);
        for i in 0..3u8 {
            if let Some(t) = q.transmit() {
                t.consume(3, |b| b.fill(i));
            }
        }
        assert_eq!(q.frames(), &[vec![0; 3], vec![1; 3]]);
        assert!(q.transmit().is_none(), "full");
        assert_eq!(q.take().len(), 2);
        assert!(q.is_empty() && q.transmit().is_some());
    }

    #[test]
    fn a_fresh_buffer_is_not_zeroed() {
        let mut q = FrameQueue::new(1, 1514);
        let seen = q.transmit().unwrap().consume(4, |b| b.to_vec());
        assert_eq!(seen, vec![FILL; 4]);
    }
}
