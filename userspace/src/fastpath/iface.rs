//! Facts about a network interface, read from sysfs.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::wire::MacAddr;

/// Fails with one clear line when the interface does not exist.
pub fn ensure_exists(iface: &str) -> Result<()> {
    if iface.is_empty() || iface.contains('/') || !Path::new("/sys/class/net").join(iface).exists()
    {
        bail!("no interface named '{iface}' (see `ip link show`)");
    }
    Ok(())
}

/// The interface's own MAC address.
pub fn mac(iface: &str) -> Result<MacAddr> {
    ensure_exists(iface)?;
    let path = format!("/sys/class/net/{iface}/address");
    let s = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    s.trim()
        .parse()
        .with_context(|| format!("interface {iface} has no Ethernet address"))
}

/// Number of RX queues: one AF_XDP socket is opened per queue.
pub fn rx_queues(iface: &str) -> Result<u32> {
    ensure_exists(iface)?;
    let dir = format!("/sys/class/net/{iface}/queues");
    let n = fs::read_dir(&dir)
        .with_context(|| format!("reading {dir}"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count() as u32;
    Ok(n.max(1))
}

/// The interface's MTU.
pub fn mtu(iface: &str) -> Result<u32> {
    let path = format!("/sys/class/net/{iface}/mtu");
    let s = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    s.trim()
        .parse()
        .with_context(|| format!("bad MTU in {path}"))
}

/// The interface index, as the kernel numbers it.
pub fn index(iface: &str) -> Result<u32> {
    let path = format!("/sys/class/net/{iface}/ifindex");
    let s = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    s.trim()
        .parse()
        .with_context(|| format!("bad ifindex in {path}"))
}
