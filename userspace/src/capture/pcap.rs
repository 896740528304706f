//! Capture file writers: PcapNG (the default of `xdpstack capture`:
//! direction flags and a comment with each frame's path) and classic pcap
//! (`--pcap`). Both little-endian, link type Ethernet; each frame is
//! flushed as it is written, so a reader on a pipe sees it at once.
//!
//! PcapNG: draft-ietf-opsawg-pcapng (section header 4.1, interface
//! description 4.2, enhanced packet 4.3, options 3.5). Classic pcap:
//! draft-ietf-opsawg-pcap.

use std::io::{self, Write};

use super::{Captured, Direction};

/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u16 = 1;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
/// epb_flags bits 0-1: 01 inbound, 10 outbound.
const FLAG_INBOUND: u32 = 1;
const FLAG_OUTBOUND: u32 = 2;

/// Classic pcap, microsecond timestamps (the magic every reader knows).
const PCAP_MAGIC: u32 = 0xA1B2_C3D4;

/// Which file format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PcapNg,
    Pcap,
}

/// Writes a capture file: the header on creation, then one frame per call.
pub struct Writer<W: Write> {
    out: W,
    format: Format,
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// One option: code, length, value padded to 32 bits.
fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + pad4(value.len()) - value.len(), 0);
}

/// A block: type, total length, body, total length again.
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

impl<W: Write> Writer<W> {
    /// Writes the file header: for PcapNG a section header and one
    /// interface (Ethernet, `snaplen`, named `iface`, nanosecond
    /// timestamps); for pcap the global header.
    pub fn new(mut out: W, format: Format, snaplen: u32, iface: &str) -> io::Result<Self> {
        let mut buf = Vec::new();
        match format {
            Format::PcapNg => {
                let mut shb = Vec::new();
                shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
                shb.extend_from_slice(&1u16.to_le_bytes()); // major
                shb.extend_from_slice(&0u16.to_le_bytes()); // minor
                shb.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
                block(&mut buf, SHB, &shb);
                let mut idb = Vec::new();
                idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&snaplen.to_le_bytes());
                if !iface.is_empty() {
                    option(&mut idb, IF_NAME, iface.as_bytes());
                }
                // 10^-9 s: the program's timestamps are nanoseconds.
                option(&mut idb, IF_TSRESOL, &[9]);
                option(&mut idb, OPT_END, &[]);
                block(&mut buf, IDB, &idb);
            }
            Format::Pcap => {
                buf.extend_from_slice(&PCAP_MAGIC.to_le_bytes());
                buf.extend_from_slice(&2u16.to_le_bytes());
                buf.extend_from_slice(&4u16.to_le_bytes());
                buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone
                buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
                buf.extend_from_slice(&snaplen.to_le_bytes());
                buf.extend_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
            }
        }
        out.write_all(&buf)?;
        out.flush()?;
        Ok(Writer { out, format })
    }

    /// Writes one frame and flushes it.
    pub fn write(&mut self, c: &Captured) -> io::Result<()> {
        let mut buf = Vec::with_capacity(c.data.len() + 64);
        match self.format {
            Format::PcapNg => {
                let mut epb = Vec::with_capacity(c.data.len() + 48);
                epb.extend_from_slice(&0u32.to_le_bytes()); // interface 0
                epb.extend_from_slice(&((c.ts_ns >> 32) as u32).to_le_bytes());
                epb.extend_from_slice(&(c.ts_ns as u32).to_le_bytes());
                epb.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
                epb.extend_from_slice(&c.orig_len.to_le_bytes());
                epb.extend_from_slice(&c.data);
                epb.resize(epb.len() + pad4(c.data.len()) - c.data.len(), 0);
                let flags = match c.dir {
                    Direction::In => FLAG_INBOUND,
                    Direction::Out => FLAG_OUTBOUND,
                };
                option(&mut epb, EPB_FLAGS, &flags.to_le_bytes());
                option(&mut epb, OPT_COMMENT, c.path.as_bytes());
                option(&mut epb, OPT_END, &[]);
                block(&mut buf, EPB, &epb);
            }
            Format::Pcap => {
                let secs = (c.ts_ns / 1_000_000_000) as u32;
                let usecs = ((c.ts_ns % 1_000_000_000) / 1000) as u32;
                buf.extend_from_slice(&secs.to_le_bytes());
                buf.extend_from_slice(&usecs.to_le_bytes());
                buf.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
                buf.extend_from_slice(&c.orig_len.to_le_bytes());
                buf.extend_from_slice(&c.data);
            }
        }
        self.out.write_all(&buf)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Captured {
        Captured {
            ts_ns: 0x0000_0001_0000_0002 + 3_000_000_000,
            dir: Direction::Out,
            path: "xsk tx".into(),
            orig_len: 60,
            data: vec![0xaa, 0xbb, 0xcc, 0xdd, 0xee],
        }
    }

    #[test]
    fn pcapng_bytes_are_as_the_format_says() {
        let mut w = Writer::new(Vec::new(), Format::PcapNg, 65535, "eth0").unwrap();
        w.write(&frame()).unwrap();
        let b = w.into_inner();
        #[rustfmt::skip]
        let shb: &[u8] = &[
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0,
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            28, 0, 0, 0,
        ];
        #[rustfmt::skip]
        let idb: &[u8] = &[
            1, 0, 0, 0, 40, 0, 0, 0,
            1, 0, 0, 0, 0xff, 0xff, 0, 0,
            2, 0, 4, 0, b'e', b't', b'h', b'0',
            9, 0, 1, 0, 9, 0, 0, 0,
            0, 0, 0, 0,
            40, 0, 0, 0,
        ];
        let ts = frame().ts_ns;
        let mut epb: Vec<u8> = vec![6, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0];
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        #[rustfmt::skip]
        epb.extend_from_slice(&[
            5, 0, 0, 0, 60, 0, 0, 0,
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0,
            2, 0, 4, 0, 2, 0, 0, 0,
            1, 0, 6, 0, b'x', b's', b'k', b' ', b't', b'x', 0, 0,
            0, 0, 0, 0,
            64, 0, 0, 0,
        ]);
        assert_eq!(&b[..28], shb);
        assert_eq!(&b[28..68], idb);
        assert_eq!(&b[68..], &epb[..]);
    }

    #[test]
    fn pcap_bytes_are_as_the_format_says() {
        let mut w = Writer::new(Vec::new(), Format::Pcap, 96, "").unwrap();
        let mut f = frame();
        f.ts_ns = 1_700_000_000_123_456_789;
        w.write(&f).unwrap();
        let b = w.into_inner();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 96, 0, 0, 0, 1, 0, 0, 0,
        ];
        assert_eq!(&b[..24], want);
        assert_eq!(&b[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&b[28..32], &123_456u32.to_le_bytes());
        assert_eq!(&b[32..40], &[5, 0, 0, 0, 60, 0, 0, 0]);
        assert_eq!(&b[40..], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    }

    /// tcpdump (libpcap) reads both formats back, when it is installed.
    #[test]
    fn tcpdump_reads_what_is_written() {
        if std::process::Command::new("tcpdump")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("tcpdump not installed: skipped");
            return;
        }
        // An ARP request from 10.10.0.2 for 10.10.0.4.
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 10, 10, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&[
            2, 0, 10, 10, 0, 2, 10, 10, 0, 2, 0, 0, 0, 0, 0, 0, 10, 10, 0, 4,
        ]);
        let c = Captured {
            ts_ns: 1_700_000_000_000_000_000,
            dir: Direction::In,
            path: "xdp_tx arp_replied".into(),
            orig_len: arp.len() as u32,
            data: arp,
        };
        for format in [Format::PcapNg, Format::Pcap] {
            let mut w = Writer::new(Vec::new(), format, 65535, "veth0").unwrap();
            w.write(&c).unwrap();
            w.write(&c).unwrap();
            let path = std::env::temp_dir().join(format!(
                "xdpstack-pcap-test-{}-{format:?}",
                std::process::id()
            ));
            std::fs::write(&path, w.into_inner()).unwrap();
            let out = std::process::Command::new("tcpdump")
                .args(["-nr"])
                .arg(&path)
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&path);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{format:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                text.matches("Request who-has 10.10.0.4 tell 10.10.0.2")
                    .count(),
                2,
                "{format:?}: {text}"
            );
        }
    }
}
