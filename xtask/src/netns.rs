//! The lab: two network namespaces joined by a veth pair.
//!
//! ```text
//!   client namespace                      stack namespace
//!   [client veth 10.10.0.2/24] <--veth--> [stack veth, no kernel address]
//! ```
//!
//! xdpstack attaches its XDP program to the stack end and answers for
//! 10.10.0.4 itself, so the stack end has no kernel address unless
//! [`LabOptions::stack_kernel_addr`] asks for one (to compare with Linux).
//!
//! Two kinds of lab:
//! - [`Lab::course`]: fixed names (`xdplab-client`/`veth-client`,
//!   `xdplab-stack`/`veth-stack`), made by `cargo xtask lab up` and kept
//!   until `cargo xtask lab down`; dropping the value leaves it in place.
//! - [`Lab::test`]: unique names per process and call; dropping the value
//!   deletes the namespaces (and with them the veth pair), even when the test
//!   panics. Addresses are the same as the course lab's: each lab's addresses
//!   live in its own namespaces, so labs never see each other.
//!
//! Everything goes through `ip` (iproute2) and needs root.

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd;

/// The client's kernel address.
pub const CLIENT_ADDR: &str = "10.10.0.2";
/// The address xdpstack answers for (or the kernel, in kernel mode).
pub const STACK_ADDR: &str = "10.10.0.4";
/// Both addresses are in 10.10.0.0/24.
pub const PREFIX_LEN: u8 = 24;
/// The client's IPv6 address, in the lab's ULA prefix fd00:10:10::/64
/// (RFC 4193). Added with `nodad`, so it is usable at once; the client's
/// link-local address is left to the kernel's default (with DAD).
pub const CLIENT_ADDR6: &str = "fd00:10:10::2";
/// The IPv6 address xdpstack answers for with `--ip6` (or the kernel, in
/// kernel mode).
pub const STACK_ADDR6: &str = "fd00:10:10::4";
pub const PREFIX_LEN6: u8 = 64;

/// The course lab's fixed names.
pub const COURSE_CLIENT_NS: &str = "xdplab-client";
pub const COURSE_STACK_NS: &str = "xdplab-stack";
pub const COURSE_CLIENT_IF: &str = "veth-client";
pub const COURSE_STACK_IF: &str = "veth-stack";
/// The course lab's fixed MAC addresses: locally administered (02:...), the
/// last bytes spelling the IPv4 address like Docker's, so captures read the
/// same on every machine and every run.
pub const COURSE_CLIENT_MAC: &str = "02:00:0a:0a:00:02";
pub const COURSE_STACK_MAC: &str = "02:00:0a:0a:00:04";

/// Test lab names start with this, so stray ones are easy to spot and remove.
pub const TEST_PREFIX: &str = "xst";

/// Linux interface names hold at most 15 bytes (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// How long to wait for both veth ends to report carrier after `link set up`.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(2);
const LINK_UP_POLL: Duration = Duration::from_millis(10);
const LINK_UP_MAX_POLLS: u32 = 200;

/// How many counter values to try when a test lab name is already taken
/// (a namespace left by a killed earlier process with the same pid).
const MAX_TEST_NAME_TRIES: u32 = 16;

/// What dropping a [`Lab`] does to its namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// Leave them: the course lab lives from `lab up` until `lab down`.
    Keep,
    /// Delete them (which deletes the veth pair): a test lab never outlives its test.
    Delete,
}

/// Choices made when a lab is created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabOptions {
    /// Give the stack end the kernel address 10.10.0.4/24 so that Linux
    /// answers there ("kernel mode", for comparisons with xdpstack).
    pub stack_kernel_addr: bool,
}

/// The four names of a lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabNames {
    pub client_ns: String,
    pub stack_ns: String,
    pub client_if: String,
    pub stack_if: String,
}

impl LabNames {
    /// The fixed course lab.
    pub fn course() -> LabNames {
        LabNames {
            client_ns: COURSE_CLIENT_NS.to_string(),
            stack_ns: COURSE_STACK_NS.to_string(),
            client_if: COURSE_CLIENT_IF.to_string(),
            stack_if: COURSE_STACK_IF.to_string(),
        }
    }

    /// A test lab's names: `xst` + pid (6 hex digits, fixed width so pid and
    /// counter cannot run together ambiguously) + counter (up to 4 hex digits).
    /// Interface names end in `c`/`s` and are at most 14 bytes.
    pub fn test(pid: u32, counter: u32) -> LabNames {
        // pid_max is at most 2^22 on Linux, so 6 hex digits always suffice;
        // the masks only guarantee the length whatever the inputs.
        let tag = format!("{TEST_PREFIX}{:06x}{:x}", pid & 0xff_ffff, counter & 0xffff);
        LabNames {
            client_ns: format!("{tag}-client"),
            stack_ns: format!("{tag}-stack"),
            client_if: format!("{tag}c"),
            stack_if: format!("{tag}s"),
        }
    }
}

/// One end of the lab: a namespace and the veth end inside it.
#[derive(Clone, Debug)]
pub struct Side {
    ns: String,
    iface: String,
    /// Kernel IPv4 address with prefix length, e.g. `10.10.0.2/24`.
    kernel_addr: Option<String>,
}

impl Side {
    /// The network namespace's name (as in `ip netns exec NAME`).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The veth end's interface name inside the namespace.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The kernel address with prefix length (`10.10.0.2/24`), if one was set.
    pub fn kernel_addr(&self) -> Option<&str> {
        self.kernel_addr.as_deref()
    }

    /// The veth end's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        link_mac(&self.ns, &self.iface)
    }

    /// Runs a command in this namespace to completion, output captured.
    pub fn exec<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        exec(&self.ns, args)
    }

    /// Like [`Side::exec`], but fails on a non-zero exit; returns stdout.
    pub fn exec_ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        exec_ok(&self.ns, args)
    }

    /// Starts a command in this namespace; see [`spawn`].
    pub fn spawn<I, S>(&self, args: I) -> Result<Child>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        spawn(&self.ns, args)
    }

    /// A `Command` that runs in this namespace, for custom stdio; see [`command`].
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        command(&self.ns, args)
    }
}

/// The most queues a lab's veth ends get (`lab up --queues`).
pub const MAX_QUEUES: u32 = 64;

/// How many RX queues `iface` in `ns` has (`ip -d link` says
/// `numrxqueues N`).
pub fn link_queues(ns: &str, iface: &str) -> Result<u32> {
    let out = exec_ok(ns, ["ip", "-d", "link", "show", "dev", iface])?;
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "numrxqueues" {
            if let Some(n) = words.next().and_then(|n| n.parse().ok()) {
                return Ok(n);
            }
        }
    }
    bail!("`ip -d link show dev {iface}` in {ns} names no numrxqueues")
}

/// A lab: client and stack namespaces joined by a veth pair.
#[derive(Debug)]
pub struct Lab {
    client: Side,
    stack: Side,
    on_drop: OnDrop,
}

impl Lab {
    /// Brings up the fixed course lab, or reconfigures it if it is already
    /// there (addresses, links up, GRO). A half-built lab left by an
    /// interrupted run is deleted and made again. Dropping the result keeps it.
    pub fn course(opts: LabOptions) -> Result<Lab> {
        Lab::course_with_queues(opts, None)
    }

    /// As [`Lab::course`], with `queues` RX and TX queues on each veth end
    /// (None: as many as an existing lab has, else 1). A lab with another
    /// count is deleted and made again.
    pub fn course_with_queues(opts: LabOptions, queues: Option<u32>) -> Result<Lab> {
        require_root("the course lab")?;
        let names = LabNames::course();
        let complete = course_is_complete()?;
        let same_queues = match queues {
            None => true,
            Some(n) => link_queues(COURSE_STACK_NS, COURSE_STACK_IF).ok() == Some(n),
        };
        let lab = if complete && same_queues {
            // Keep even if configuring fails: the namespaces were there before us.
            let mut lab = Lab::from_names(&names, opts, OnDrop::Keep);
            lab.configure(opts)?;
            lab
        } else {
            Lab::course_down()?;
            Lab::create(&names, opts, OnDrop::Keep, queues.unwrap_or(1))?
        };
        // Setting the address it already has changes nothing, so a daemon
        // already serving on the stack end keeps working.
        for (side, mac) in [
            (&lab.client, COURSE_CLIENT_MAC),
            (&lab.stack, COURSE_STACK_MAC),
        ] {
            ip([
                "-n",
                &side.ns,
                "link",
                "set",
                "dev",
                &side.iface,
                "address",
                mac,
            ])?;
        }
        Ok(lab)
    }

    /// True if both course namespaces and both veth ends exist.
    pub fn course_is_up() -> Result<bool> {
        course_is_complete()
    }

    /// Deletes the course lab's namespaces (which deletes its veth pair).
    /// Returns the namespaces that were deleted; none is not an error.
    pub fn course_down() -> Result<Vec<String>> {
        require_root("the course lab")?;
        let existing = namespaces()?;
        let mut deleted = Vec::new();
        for ns in [COURSE_CLIENT_NS, COURSE_STACK_NS] {
            if existing.iter().any(|n| n == ns) {
                delete_namespace(ns)?;
                deleted.push(ns.to_string());
            }
        }
        Ok(deleted)
    }

    /// Creates a uniquely named lab for one test; dropping it deletes it.
    pub fn test(opts: LabOptions) -> Result<Lab> {
        Lab::test_with_queues(opts, 1)
    }

    /// As [`Lab::test`], with `queues` RX and TX queues on each veth end,
    /// so the client's flows spread over the stack end's RX queues (a veth
    /// delivers on the RX queue numbered like the sender's TX queue, which
    /// the sender picks by flow hash).
    pub fn test_with_queues(opts: LabOptions, queues: u32) -> Result<Lab> {
        // Shared by all threads of the process, so parallel tests get
        // different names.
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        require_root("a test lab")?;
        let pid = std::process::id();
        for _ in 0..MAX_TEST_NAME_TRIES {
            let names = LabNames::test(pid, COUNTER.fetch_add(1, Ordering::Relaxed));
            let existing = namespaces()?;
            let taken = existing
                .iter()
                .any(|n| *n == names.client_ns || *n == names.stack_ns);
            if taken {
                // Left by a killed process that had our pid: not ours to delete.
                continue;
            }
            return Lab::create(&names, opts, OnDrop::Delete, queues);
        }
        bail!(
            "no free test lab name after {MAX_TEST_NAME_TRIES} tries: delete stale ones with \
             `ip netns list | grep ^{TEST_PREFIX}` and `ip netns del NAME`"
        )
    }

    /// The client end (10.10.0.2/24).
    pub fn client(&self) -> &Side {
        &self.client
    }

    /// The stack end (where xdpstack runs; 10.10.0.4/24 only in kernel mode).
    pub fn stack(&self) -> &Side {
        &self.stack
    }

    /// What dropping this lab does.
    pub fn on_drop(&self) -> OnDrop {
        self.on_drop
    }

    /// Deletes the namespaces now, reporting errors (Drop can only print
    /// them). Works for the course lab too.
    pub fn delete(mut self) -> Result<()> {
        // Drop then has nothing left to do.
        self.on_drop = OnDrop::Keep;
        delete_namespace(&self.client.ns)?;
        delete_namespace(&self.stack.ns)
    }

    fn from_names(names: &LabNames, opts: LabOptions, on_drop: OnDrop) -> Lab {
        Lab {
            client: Side {
                ns: names.client_ns.clone(),
                iface: names.client_if.clone(),
                kernel_addr: Some(format!("{CLIENT_ADDR}/{PREFIX_LEN}")),
            },
            stack: Side {
                ns: names.stack_ns.clone(),
                iface: names.stack_if.clone(),
                kernel_addr: opts
                    .stack_kernel_addr
                    .then(|| format!("{STACK_ADDR}/{PREFIX_LEN}")),
            },
            on_drop,
        }
    }

    /// Makes namespaces and veth pair, then configures them. Until it has
    /// fully succeeded the lab deletes itself on error, so a failed attempt
    /// leaves nothing half-built; `on_drop` applies after that.
    fn create(names: &LabNames, opts: LabOptions, on_drop: OnDrop, queues: u32) -> Result<Lab> {
        if !(1..=MAX_QUEUES).contains(&queues) {
            bail!("a lab veth has 1 to {MAX_QUEUES} queues, not {queues}");
        }
        let mut lab = Lab::from_names(names, opts, OnDrop::Delete);
        ip(["netns", "add", &names.client_ns])?;
        ip(["netns", "add", &names.stack_ns])?;
        // Each end is created directly inside its namespace, so the host's
        // namespace never holds (or clashes with) these interface names.
        let q = queues.to_string();
        ip([
            "link",
            "add",
            "name",
            &names.client_if,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            &names.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &names.stack_if,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            &names.stack_ns,
        ])?;
        lab.configure(opts)?;
        lab.on_drop = on_drop;
        Ok(lab)
    }

    /// Addresses, links up, GRO on the client end; safe to repeat.
    fn configure(&mut self, opts: LabOptions) -> Result<()> {
        let stack_addr = opts
            .stack_kernel_addr
            .then(|| format!("{STACK_ADDR}/{PREFIX_LEN}"));
        self.stack.kernel_addr = stack_addr.clone();
        for side in [&self.client, &self.stack] {
            ip(["-n", &side.ns, "link", "set", "lo", "up"])?;
        }
        let client_addr = format!("{CLIENT_ADDR}/{PREFIX_LEN}");
        ip([
            "-n",
            &self.client.ns,
            "addr",
            "replace",
            &client_addr,
            "dev",
            &self.client.iface,
        ])?;
        match &stack_addr {
            Some(addr) => ip([
                "-n",
                &self.stack.ns,
                "addr",
                "replace",
                addr,
                "dev",
                &self.stack.iface,
            ])?,
            // xdpstack owns 10.10.0.4: a kernel address would make Linux
            // answer too (a lab reused after kernel mode may still have one).
            None => ip([
                "-n",
                &self.stack.ns,
                "-4",
                "addr",
                "flush",
                "dev",
                &self.stack.iface,
            ])?,
        }
        let client_addr6 = format!("{CLIENT_ADDR6}/{PREFIX_LEN6}");
        ip([
            "-n",
            &self.client.ns,
            "addr",
            "replace",
            &client_addr6,
            "dev",
            &self.client.iface,
            "nodad",
        ])?;
        if opts.stack_kernel_addr {
            let stack_addr6 = format!("{STACK_ADDR6}/{PREFIX_LEN6}");
            ip([
                "-n",
                &self.stack.ns,
                "addr",
                "replace",
                &stack_addr6,
                "dev",
                &self.stack.iface,
                "nodad",
            ])?;
        } else {
            // Likewise fd00:10:10::4; the kernel's own link-local address
            // stays (xdpstack derives the same one from the MAC and answers
            // for it first).
            ip([
                "-n",
                &self.stack.ns,
                "-6",
                "addr",
                "flush",
                "dev",
                &self.stack.iface,
                "scope",
                "global",
            ])?;
        }
        for side in [&self.client, &self.stack] {
            ip(["-n", &side.ns, "link", "set", &side.iface, "up"])?;
        }
        // GRO on is the documented way to give a veth end NAPI without an
        // XDP program; on the 6.18 kernels here it was not enough to receive
        // XDP_TX'd frames, so users of the lab also attach xdpstack's
        // `peer_counter` program to the client end (see
        // `xdpstack::fastpath::peer`). GRO stays on for kernels where it works.
        exec_ok(
            &self.client.ns,
            ["ethtool", "-K", &self.client.iface, "gro", "on"],
        )
        .context("cannot turn GRO on for the client veth")?;
        // TX checksum offload stays on, the veth default: the client's kernel
        // leaves UDP/TCP checksums partial and xdpstack accepts them on a veth.
        for side in [&self.client, &self.stack] {
            wait_link_up(&side.ns, &side.iface)?;
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.on_drop == OnDrop::Keep {
            return;
        }
        for ns in [&self.client.ns, &self.stack.ns] {
            if let Err(e) = delete_namespace(ns) {
                eprintln!("warning: lab cleanup: {e:#}");
            }
        }
    }
}

/// A `Command` for `ip netns exec NS ARGS...`, for callers that want their
/// own stdio settings.
pub fn command<I, S>(ns: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Runs a command inside namespace `ns` to completion, output captured.
/// A non-zero exit is not an error here (a failed ping can be the point).
pub fn exec<I, S>(ns: &str, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    cmd::output(&mut command(ns, args))
}

/// Runs a command inside namespace `ns`; fails on a non-zero exit (with its
/// stderr in the message). Returns stdout.
pub fn exec_ok<I, S>(ns: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    cmd::stdout_ok(&mut command(ns, args))
}

/// Starts a command inside namespace `ns`: stdin from /dev/null, stdout and
/// stderr inherited (use [`command`] to capture them). The caller must kill
/// or wait for the child: a process still inside a namespace keeps it (and
/// its veth) alive after the name is deleted.
pub fn spawn<I, S>(ns: &str, args: I) -> Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = command(ns, args);
    c.stdin(Stdio::null());
    c.spawn().with_context(|| {
        format!(
            "cannot start `{}`: is iproute2 installed?",
            cmd::describe(&c)
        )
    })
}

/// Runs `f` on a new thread that has entered namespace `ns` (setns(2) on a
/// network namespace moves only the calling thread). Sockets made there stay
/// in `ns` and may be used from any thread afterwards, so a bench can keep a
/// kernel socket of each namespace without another process.
pub fn in_namespace<T, F>(ns: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    extern "C" {
        // setns(2); xtask has no libc dependency for this one call.
        fn setns(fd: i32, nstype: i32) -> i32;
    }
    const CLONE_NEWNET: i32 = 0x4000_0000;
    // `ip netns add` keeps each namespace open at this path.
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path)
        .with_context(|| format!("opening {path}: does namespace {ns} exist?"))?;
    thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            // SAFETY: setns only reads the descriptor, which `file` keeps open.
            if unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) } != 0 {
                bail!(
                    "cannot enter namespace {ns}: {}",
                    std::io::Error::last_os_error()
                );
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| bail!("the thread inside namespace {ns} panicked"))
    })
}

/// The names of all network namespaces (`ip netns list`).
pub fn namespaces() -> Result<Vec<String>> {
    let out = cmd::stdout_ok(Command::new("ip").args(["netns", "list"]))?;
    Ok(parse_netns_list(&out))
}

/// True if interface `iface` exists inside namespace `ns`.
pub fn link_exists(ns: &str, iface: &str) -> bool {
    cmd::succeeds(Command::new("ip").args(["-n", ns, "link", "show", "dev", iface]))
}

/// Deletes a namespace if it exists (which deletes the interfaces in it).
pub fn delete_namespace(ns: &str) -> Result<()> {
    if !namespaces()?.iter().any(|n| n == ns) {
        return Ok(());
    }
    ip(["netns", "del", ns])
}

/// The MAC address of `iface` inside `ns`.
pub fn link_mac(ns: &str, iface: &str) -> Result<[u8; 6]> {
    let out =
        cmd::stdout_ok(Command::new("ip").args(["-n", ns, "-o", "link", "show", "dev", iface]))?;
    parse_link_mac(&out)
        .with_context(|| format!("no MAC address in `ip -n {ns} -o link show dev {iface}`: {out}"))
}

/// True if the effective user is root (read from /proc, no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_uid(&s))
        == Some(0)
}

fn require_root(what: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} needs root (network namespaces, veth, XDP): run as root, e.g. with sudo");
    }
    Ok(())
}

fn course_is_complete() -> Result<bool> {
    let existing = namespaces()?;
    let has = |ns: &str| existing.iter().any(|n| n == ns);
    Ok(has(COURSE_CLIENT_NS)
        && has(COURSE_STACK_NS)
        && link_exists(COURSE_CLIENT_NS, COURSE_CLIENT_IF)
        && link_exists(COURSE_STACK_NS, COURSE_STACK_IF))
}

fn ip<const N: usize>(args: [&str; N]) -> Result<()> {
    cmd::stdout_ok(Command::new("ip").args(args)).map(|_| ())
}

/// Waits (bounded in polls and time) until the link reports carrier, which a
/// veth does once both of its ends are up.
fn wait_link_up(ns: &str, iface: &str) -> Result<()> {
    let start = Instant::now();
    for _ in 0..LINK_UP_MAX_POLLS {
        let out = cmd::stdout_ok(
            Command::new("ip").args(["-n", ns, "-o", "link", "show", "dev", iface]),
        )?;
        if out.contains("LOWER_UP") {
            return Ok(());
        }
        if start.elapsed() > LINK_UP_TIMEOUT {
            break;
        }
        thread::sleep(LINK_UP_POLL);
    }
    bail!(
        "{iface} in namespace {ns} has no carrier after {:?}: check `ip -n {ns} link show {iface}`",
        LINK_UP_TIMEOUT
    )
}

/// Namespace names from `ip netns list` (lines like `name (id: 3)` or `name`).
fn parse_netns_list(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The MAC from `ip -o link show` output (`... link/ether 56:3e:cf:2e:73:af brd ...`).
fn parse_link_mac(out: &str) -> Option<[u8; 6]> {
    let mut words = out.split_whitespace();
    words.find(|w| *w == "link/ether")?;
    parse_mac(words.next()?)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(mac)
}

/// The effective uid from /proc/self/status (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_fit_interface_name_limit() {
        for pid in [1, 4242, 4_194_304, u32::MAX] {
            for counter in [0, 15, 0xffff, u32::MAX] {
                let n = LabNames::test(pid, counter);
                assert!(n.client_if.len() <= MAX_IFNAME_LEN, "{n:?}");
                assert!(n.stack_if.len() <= MAX_IFNAME_LEN, "{n:?}");
                assert!(n.client_if.starts_with(TEST_PREFIX));
                assert_ne!(n.client_ns, n.stack_ns);
                assert_ne!(n.client_if, n.stack_if);
            }
        }
    }

    #[test]
    fn test_names_differ_by_pid_and_counter() {
        // Fixed-width pid: (0x1, 0x23) and (0x12, 0x3) must not collide.
        assert_ne!(LabNames::test(0x1, 0x23), LabNames::test(0x12, 0x3));
        assert_ne!(LabNames::test(7, 0), LabNames::test(7, 1));
        assert_eq!(LabNames::test(0x1234, 5).client_if, "xst0012345c");
    }

    #[test]
    fn course_names_are_the_documented_ones() {
        let n = LabNames::course();
        assert_eq!(n.client_ns, "xdplab-client");
        assert_eq!(n.stack_ns, "xdplab-stack");
        assert_eq!(n.client_if, "veth-client");
        assert_eq!(n.stack_if, "veth-stack");
        assert!(n.client_if.len() <= MAX_IFNAME_LEN);
    }

    #[test]
    fn course_macs_are_locally_administered_unicast() {
        for mac in [COURSE_CLIENT_MAC, COURSE_STACK_MAC] {
            let m = parse_mac(mac).expect("a MAC");
            assert_eq!(m[0] & 0b11, 0b10, "{mac}: local, unicast");
        }
    }

    #[test]
    fn netns_list_parsing() {
        let out = "xdplab-stack (id: 1)\nxdplab-client (id: 0)\nplain\n\n";
        assert_eq!(
            parse_netns_list(out),
            ["xdplab-stack", "xdplab-client", "plain"]
        );
        assert!(parse_netns_list("").is_empty());
    }

    #[test]
    fn mac_from_ip_link_output() {
        let out = "2: veth-client@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue \
                   state UP mode DEFAULT group default qlen 1000\\    link/ether 56:3e:cf:2e:73:af \
                   brd ff:ff:ff:ff:ff:ff link-netns xdplab-stack";
        assert_eq!(
            parse_link_mac(out),
            Some([0x56, 0x3e, 0xcf, 0x2e, 0x73, 0xaf])
        );
        assert_eq!(
            parse_link_mac("1: lo: link/loopback 00:00:00:00:00:00"),
            None
        );
    }

    #[test]
    fn mac_parsing_rejects_malformed() {
        assert_eq!(
            parse_mac("00:11:22:33:44:55"),
            Some([0, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(parse_mac("00:11:22:33:44"), None);
        assert_eq!(parse_mac("00:11:22:33:44:55:66"), None);
        assert_eq!(parse_mac("0:11:22:33:44:55"), None);
        assert_eq!(parse_mac("zz:11:22:33:44:55"), None);
    }

    #[test]
    fn effective_uid_is_the_second_uid_field() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
    }
}
