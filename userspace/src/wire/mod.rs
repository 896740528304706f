//! Wire formats: zero-copy views over packet bytes (`Packet<T>`), checked
//! once at construction so accessors never panic, and plain-data `Repr`s
//! that protocol logic works on (`parse` from a view, `emit` into one).

pub mod ethernet;

pub use ethernet::MacAddr;
