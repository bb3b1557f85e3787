//! Capability addressing: resolving a capability pointer through guarded
//! CNodes to a slot, as seL4's `resolveAddressBits` does.

pub mod lookup;
