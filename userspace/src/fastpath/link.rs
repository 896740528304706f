//! What the kernel's rtnetlink says about a link: its kind (`veth`?), where a
//! veth's peer is, and whether the peer has an XDP program in driver mode.
//!
//! `--mode auto` needs this because a veth end delivers the frames its XDP
//! program sends back with XDP_TX straight into the peer's NAPI ring, and
//! drops them when the peer has none (the kernel's `veth_xdp_xmit`). A native
//! XDP program on the peer gives it one. The peer often sits in another
//! network namespace (a Docker container's eth0 has its peer in the host's
//! bridge), which sysfs cannot show but rtnetlink can: `RTM_GETLINK` with
//! `IFLA_TARGET_NETNSID` reads a link in the namespace the veth reports as
//! `IFLA_LINK_NETNSID`, if we hold CAP_NET_ADMIN there.
//!
//! Plain `libc` calls and a small attribute parser that refuses truncated
//! input: a few dozen lines instead of a netlink crate. Measured (issue 15,
//! 2026-12-02): the same query on `netlink-packet-route` 0.34 /
//! `netlink-packet-core` 0.9 / `netlink-sys` 0.9 passed these tests and the
//! root labs, but grew the release binary from 6,559,384 to 7,559,816 bytes
//! (+1.0 MB, +15%; stripped 5,380,008 -> 6,152,552): parsing any `IFLA_*`
//! attribute links in the parsers of every link kind (bond, bridge, CAN,
//! ...), which the crate has no feature to leave out, to read eight fields.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The facts `--mode auto` reads from one `RTM_NEWLINK` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND`: "veth", "bridge", ... (absent for physical NICs).
    pub kind: Option<String>,
    /// `IFLA_LINK`: for a veth, the peer's ifindex (in the peer's namespace).
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: present when the peer lives in another namespace,
    /// as that namespace's id seen from ours.
    pub link_netnsid: Option<i32>,
    /// `IFLA_XDP_ATTACHED`: 0 none, 1 driver, 2 generic (skb), 3 offload, 4 several.
    pub xdp_attached: u8,
    /// `IFLA_XDP_DRV_PROG_ID` (or `IFLA_XDP_PROG_ID` when attached in driver
    /// mode only): the id of the program attached in driver mode, if any.
    pub xdp_drv_prog_id: Option<u32>,
    /// Every XDP program attached, with its mode (`native`, `skb`,
    /// `offload`), as `xdp-loader status` lists them.
    pub xdp_programs: Vec<(&'static str, u32)>,
}

impl LinkInfo {
    /// True if an XDP program is attached in driver (native) mode: for a
    /// veth that means its NAPI is on and it accepts XDP_TX'd frames. A
    /// generic-mode program does not turn NAPI on.
    pub fn has_native_xdp(&self) -> bool {
        self.xdp_attached == XDP_ATTACHED_DRV || self.xdp_drv_prog_id.is_some_and(|id| id != 0)
    }
}

// From <linux/rtnetlink.h>, <linux/if_link.h> (uapi, stable).
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_XDP: u16 = 43;
const IFLA_TARGET_NETNSID: u16 = 46;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const XDP_ATTACHED_MULTI: u8 = 4;
const XDP_ATTACHED_DRV: u8 = 1;
/// Attribute type bits that are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDR_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTA_HDR_LEN: usize = 4;
/// Large enough for one RTM_NEWLINK with statistics (the kernel sizes its
/// answer by `if_nlmsg_size`, a few KiB).
const RECV_BUF: usize = 64 * 1024;

/// Asks the kernel about the link with ifindex `index`, in our namespace or,
/// with `netnsid`, in the namespace that id names (needs CAP_NET_ADMIN there).
pub fn query(index: u32, netnsid: Option<i32>) -> io::Result<LinkInfo> {
    let request = getlink_request(index, netnsid, 1);
    let sock = NetlinkSocket::open()?;
    sock.send(&request)?;
    let mut buf = vec![0u8; RECV_BUF];
    let n = sock.recv(&mut buf)?;
    parse_answer(&buf[..n])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        .map_err(io::Error::from_raw_os_error)
}

/// `RTM_GETLINK` for one ifindex, with `IFLA_TARGET_NETNSID` when given.
fn getlink_request(index: u32, netnsid: Option<i32>, seq: u32) -> Vec<u8> {
    let attr_len = if netnsid.is_some() {
        RTA_HDR_LEN + 4
    } else {
        0
    };
    let len = NLMSG_HDR_LEN + IFINFOMSG_LEN + attr_len;
    let mut m = Vec::with_capacity(len);
    // struct nlmsghdr, host byte order.
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in ours.
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family, pad, type, index, flags, change.
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&(index as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    if let Some(id) = netnsid {
        m.extend_from_slice(&((RTA_HDR_LEN + 4) as u16).to_ne_bytes());
        m.extend_from_slice(&IFLA_TARGET_NETNSID.to_ne_bytes());
        m.extend_from_slice(&id.to_ne_bytes());
    }
    m
}

/// Parses the kernel's answer: `Ok(Ok(info))` for an `RTM_NEWLINK`,
/// `Ok(Err(errno))` for an `NLMSG_ERROR`, `Err` for bytes that are neither.
fn parse_answer(buf: &[u8]) -> Result<Result<LinkInfo, i32>, String> {
    let len = read_u32(buf, 0).ok_or("answer shorter than a netlink header")? as usize;
    let kind = read_u16(buf, 4).ok_or("answer shorter than a netlink header")?;
    if len < NLMSG_HDR_LEN || len > buf.len() {
        return Err(format!("netlink length {len} for {} bytes", buf.len()));
    }
    let body = &buf[NLMSG_HDR_LEN..len];
    match kind {
        k if k == libc::NLMSG_ERROR as u16 => {
            let errno = read_u32(body, 0).ok_or("truncated NLMSG_ERROR")? as i32;
            // errno 0 would be an ACK, which RTM_GETLINK does not send.
            Ok(Err(if errno < 0 { -errno } else { libc::EIO }))
        }
        k if k == libc::RTM_NEWLINK => parse_newlink(body).map(Ok),
        other => Err(format!("unexpected netlink message type {other}")),
    }
}

/// Parses the body of an `RTM_NEWLINK`: `struct ifinfomsg` then attributes.
fn parse_newlink(body: &[u8]) -> Result<LinkInfo, String> {
    let index = read_u32(body, 4).ok_or("truncated ifinfomsg")?;
    let attrs = body.get(IFINFOMSG_LEN..).ok_or("truncated ifinfomsg")?;
    let mut info = LinkInfo {
        index,
        ..LinkInfo::default()
    };
    for (kind, value) in Attributes::new(attrs) {
        match kind {
            IFLA_IFNAME => info.name = c_string(value),
            IFLA_LINK => info.link = read_u32(value, 0),
            IFLA_LINK_NETNSID => info.link_netnsid = read_u32(value, 0).map(|v| v as i32),
            IFLA_LINKINFO => {
                info.kind = Attributes::new(value)
                    .find(|(k, _)| *k == IFLA_INFO_KIND)
                    .map(|(_, v)| c_string(v));
            }
            IFLA_XDP => {
                let mut prog_id = None;
                let (mut skb, mut hw) = (None, None);
                for (k, v) in Attributes::new(value) {
                    match k {
                        IFLA_XDP_ATTACHED => info.xdp_attached = v.first().copied().unwrap_or(0),
                        IFLA_XDP_PROG_ID => prog_id = read_u32(v, 0),
                        IFLA_XDP_DRV_PROG_ID => info.xdp_drv_prog_id = read_u32(v, 0),
                        IFLA_XDP_SKB_PROG_ID => skb = read_u32(v, 0),
                        IFLA_XDP_HW_PROG_ID => hw = read_u32(v, 0),
                        _ => {}
                    }
                }
                // One program: its mode is IFLA_XDP_ATTACHED and its id
                // IFLA_XDP_PROG_ID; several: one id attribute per mode.
                let one_mode = match info.xdp_attached {
                    XDP_ATTACHED_DRV => Some("native"),
                    2 => Some("skb"),
                    3 => Some("offload"),
                    _ => None,
                };
                info.xdp_programs = match (one_mode, prog_id) {
                    (Some(mode), Some(id)) if info.xdp_attached != XDP_ATTACHED_MULTI => {
                        vec![(mode, id)]
                    }
                    _ => [
                        ("native", info.xdp_drv_prog_id),
                        ("skb", skb),
                        ("offload", hw),
                    ]
                    .into_iter()
                    .filter_map(|(m, id)| Some((m, id?)))
                    .collect(),
                };
                // With one program the kernel reports only IFLA_XDP_PROG_ID.
                if info.xdp_attached == XDP_ATTACHED_DRV && info.xdp_drv_prog_id.is_none() {
                    info.xdp_drv_prog_id = prog_id;
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Iterates over `struct rtattr`s, stopping at the first malformed one.
struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Attributes { rest: buf }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let len = read_u16(self.rest, 0)? as usize;
        let kind = read_u16(self.rest, 2)? & NLA_TYPE_MASK;
        if len < RTA_HDR_LEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let value = &self.rest[RTA_HDR_LEN..len];
        // Attributes are padded to 4 bytes; the last one may not be.
        let aligned = (len + 3) & !3;
        self.rest = self.rest.get(aligned..).unwrap_or(&[]);
        Some((kind, value))
    }
}

fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// A NUL-terminated (or not) attribute string.
fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A `NETLINK_ROUTE` socket with a receive timeout, so a query never hangs.
struct NetlinkSocket(OwnedFd);

impl NetlinkSocket {
    fn open() -> io::Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let sock = NetlinkSocket(unsafe { OwnedFd::from_raw_fd(fd) });
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: passes a live timeval of the size given.
        let r = unsafe {
            libc::setsockopt(
                sock.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        // Unconnected: a netlink socket sends to the kernel (port 0) by default.
        // SAFETY: msg is a live buffer of msg.len() bytes.
        let n = unsafe { libc::send(self.0.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is a live, writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((RTA_HDR_LEN + value.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn newlink(index: u32, attrs: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR_LEN + IFINFOMSG_LEN + attrs.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&index.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(attrs);
        m
    }

    /// A container's eth0 as the kernel describes it: a veth whose peer
    /// (ifindex 7) is in the namespace with id 0, no XDP program.
    fn container_eth0() -> Vec<u8> {
        let mut attrs = attr(IFLA_IFNAME, b"eth0\0");
        attrs.extend(attr(IFLA_LINK, &7u32.to_ne_bytes()));
        attrs.extend(attr(IFLA_LINK_NETNSID, &0i32.to_ne_bytes()));
        attrs.extend(attr(IFLA_LINKINFO | 0x8000, &attr(IFLA_INFO_KIND, b"veth")));
        attrs.extend(attr(IFLA_XDP | 0x8000, &attr(IFLA_XDP_ATTACHED, &[0])));
        newlink(2, &attrs)
    }

    #[test]
    fn veth_in_a_container() {
        let info = parse_answer(&container_eth0()).unwrap().unwrap();
        assert_eq!(
            info,
            LinkInfo {
                index: 2,
                name: "eth0".into(),
                kind: Some("veth".into()),
                link: Some(7),
                link_netnsid: Some(0),
                xdp_attached: 0,
                xdp_drv_prog_id: None,
                xdp_programs: vec![],
            }
        );
        assert!(!info.has_native_xdp());
    }

    #[test]
    fn xdp_attachment_modes() {
        let with_xdp = |xdp: Vec<u8>| {
            let mut attrs = attr(IFLA_IFNAME, b"vethpeer\0");
            attrs.extend(attr(IFLA_XDP | 0x8000, &xdp));
            parse_answer(&newlink(9, &attrs)).unwrap().unwrap()
        };
        let mut drv = attr(IFLA_XDP_ATTACHED, &[1]);
        drv.extend(attr(IFLA_XDP_PROG_ID, &42u32.to_ne_bytes()));
        let drv = with_xdp(drv);
        assert_eq!(drv.xdp_drv_prog_id, Some(42));
        assert!(drv.has_native_xdp());
        assert_eq!(drv.xdp_programs, [("native", 42)]);

        let mut skb = attr(IFLA_XDP_ATTACHED, &[2]);
        skb.extend(attr(IFLA_XDP_PROG_ID, &43u32.to_ne_bytes()));
        let skb = with_xdp(skb);
        assert!(!skb.has_native_xdp());
        assert_eq!(skb.xdp_programs, [("skb", 43)]);

        // Several programs: the driver one has its own attribute.
        let mut multi = attr(IFLA_XDP_ATTACHED, &[4]);
        multi.extend(attr(IFLA_XDP_SKB_PROG_ID, &44u32.to_ne_bytes()));
        multi.extend(attr(IFLA_XDP_DRV_PROG_ID, &45u32.to_ne_bytes()));
        let multi = with_xdp(multi);
        assert!(multi.has_native_xdp());
        assert_eq!(multi.xdp_programs, [("native", 45), ("skb", 44)]);
        assert!(with_xdp(attr(IFLA_XDP_ATTACHED, &[0]))
            .xdp_programs
            .is_empty());
    }

    #[test]
    fn errors_and_garbage() {
        let mut err = Vec::new();
        err.extend_from_slice(&36u32.to_ne_bytes());
        err.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        err.extend_from_slice(&[0; 10]);
        err.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        err.extend_from_slice(&[0; 16]);
        assert_eq!(parse_answer(&err), Ok(Err(libc::EPERM)));

        let good = container_eth0();
        // Every truncation is an error or a parse that stops early, never a panic.
        for cut in 0..good.len() {
            let _ = parse_answer(&good[..cut]);
        }
        // An attribute claiming more bytes than there are ends the walk.
        let mut bad = attr(IFLA_IFNAME, b"x\0");
        bad[0] = 200;
        let info = parse_answer(&newlink(3, &bad)).unwrap().unwrap();
        assert_eq!(info.name, "");
        assert!(parse_answer(&[0; 3]).is_err());
    }

    #[test]
    fn request_bytes() {
        let r = getlink_request(5, Some(0), 1);
        assert_eq!(r.len(), 40);
        assert_eq!(read_u32(&r, 0), Some(40));
        assert_eq!(read_u16(&r, 4), Some(libc::RTM_GETLINK));
        assert_eq!(read_u32(&r, 20), Some(5));
        assert_eq!(read_u16(&r, 34), Some(IFLA_TARGET_NETNSID));
        assert_eq!(getlink_request(5, None, 1).len(), 32);
    }

    #[test]
    fn loopback_is_not_a_veth() {
        // Any process may ask about its own namespace's loopback (ifindex 1).
        let lo = query(1, None).unwrap();
        assert_eq!(lo.name, "lo");
        assert_eq!(lo.kind, None);
        assert_eq!(lo.link, None);
    }
}
