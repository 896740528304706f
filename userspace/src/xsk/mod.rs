//! xsk
