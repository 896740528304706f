//! The names states are shown by.

use crate::stack::arp_cache::ArpState;
use crate::stack::tcp::TcpState;

/// As `ip neigh` names them (lower case here, upper case in its table).
pub fn arp_state(s: ArpState) -> &'static str {
    match s {
        ArpState::Incomplete => "incomplete",
        ArpState::Reachable => "reachable",
        ArpState::Stale => "stale",
        ArpState::Failed => "failed",
        ArpState::Permanent => "permanent",
    }
}

/// As `ss` names them.
pub fn tcp_state(s: TcpState) -> &'static str {
    match s {
        TcpState::Listen => "LISTEN",
        TcpState::SynSent => "SYN-SENT",
        TcpState::SynReceived => "SYN-RECV",
        TcpState::Established => "ESTAB",
        TcpState::FinWait1 => "FIN-WAIT-1",
        TcpState::FinWait2 => "FIN-WAIT-2",
        TcpState::CloseWait => "CLOSE-WAIT",
        TcpState::Closing => "CLOSING",
        TcpState::LastAck => "LAST-ACK",
        TcpState::TimeWait => "TIME-WAIT",
        TcpState::Closed => "CLOSED",
    }
}
