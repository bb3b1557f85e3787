//! Capability addressing and storage: resolving a capability pointer
//! through guarded CNodes, and the slots with their derivation tree.

pub mod cte;
pub mod delete;
pub mod lookup;
