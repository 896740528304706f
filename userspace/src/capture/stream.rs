//! How captured frames travel over the control socket once a `capture`
//! request turned the connection into a stream (after its one JSON answer
//! line). Binary, little-endian, one record after another:
//!
//! ```text
//! 'F' ts_ns:u64 orig_len:u32 caplen:u32 dir:u8 path_len:u8 path data   a frame
//! 'L' count:u64                                                         frames this client lost
//! ```

use super::{Captured, Direction};

const FRAME: u8 = b'F';
const LOST: u8 = b'L';
const FRAME_HEAD: usize = 1 + 8 + 4 + 4 + 1 + 1;

/// A record read back.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Frame(Captured),
    Lost(u64),
}

pub fn encode_frame(c: &Captured, out: &mut Vec<u8>) {
    let path = &c.path.as_bytes()[..c.path.len().min(255)];
    out.push(FRAME);
    out.extend_from_slice(&c.ts_ns.to_le_bytes());
    out.extend_from_slice(&c.orig_len.to_le_bytes());
    out.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
    out.push(match c.dir {
        Direction::In => 0,
        Direction::Out => 1,
    });
    out.push(path.len() as u8);
    out.extend_from_slice(path);
    out.extend_from_slice(&c.data);
}

pub fn encode_lost(n: u64, out: &mut Vec<u8>) {
    out.push(LOST);
    out.extend_from_slice(&n.to_le_bytes());
}

/// The largest frame record accepted: a daemon never sends more than the
/// snap length allows.
const MAX_DATA: usize = super::MAX_SNAPLEN as usize;

/// Reads one record from the front of `buf`: `Ok(Some((record, used)))`,
/// `Ok(None)` when more bytes are needed, `Err` on a malformed stream.
pub fn decode(buf: &[u8]) -> Result<Option<(Record, usize)>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let u32_at = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[o..o + 8]);
        u64::from_le_bytes(b)
    };
    match kind {
        LOST => {
            if buf.len() < 9 {
                return Ok(None);
            }
            Ok(Some((Record::Lost(u64_at(1)), 9)))
        }
        FRAME => {
            if buf.len() < FRAME_HEAD {
                return Ok(None);
            }
            let caplen = u32_at(13) as usize;
            if caplen > MAX_DATA {
                return Err(format!("a frame record of {caplen} bytes"));
            }
            let dir = match buf[17] {
                0 => Direction::In,
                1 => Direction::Out,
                d => return Err(format!("unknown direction {d}")),
            };
            let path_len = buf[18] as usize;
            let total = FRAME_HEAD + path_len + caplen;
            if buf.len() < total {
                return Ok(None);
            }
            let path =
                String::from_utf8_lossy(&buf[FRAME_HEAD..FRAME_HEAD + path_len]).into_owned();
            Ok(Some((
                Record::Frame(Captured {
                    ts_ns: u64_at(1),
                    dir,
                    path,
                    orig_len: u32_at(9),
                    data: buf[FRAME_HEAD + path_len..total].to_vec(),
                }),
                total,
            )))
        }
        k => Err(format!("unknown record type {k:#04x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_wait_for_their_last_byte() {
        let c = Captured {
            ts_ns: 1_700_000_000_123_456_789,
            dir: Direction::Out,
            path: "xdp_tx icmp_echo_replied".into(),
            orig_len: 98,
            data: vec![1, 2, 3, 4, 5],
        };
        let mut buf = Vec::new();
        encode_frame(&c, &mut buf);
        encode_lost(7, &mut buf);
        for cut in 0..buf.len() - 9 {
            assert_eq!(decode(&buf[..cut]), Ok(None), "{cut}");
        }
        let (r, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(r, Record::Frame(c));
        assert_eq!(decode(&buf[used..]), Ok(Some((Record::Lost(7), 9))));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"X").is_err());
        let mut bad = vec![FRAME];
        bad.extend_from_slice(&[0; 12]);
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        bad.extend_from_slice(&[0, 0]);
        assert!(decode(&bad).is_err());
        let mut dir = vec![FRAME];
        dir.extend_from_slice(&[0; 16]);
        dir.extend_from_slice(&[9, 0]);
        assert!(decode(&dir).is_err());
    }
}
