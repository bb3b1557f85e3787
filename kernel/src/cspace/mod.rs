//! Capability addressing and storage: resolving a capability pointer
//! through guarded CNodes, and the slots with their derivation tree.

pub mod cte;
pub mod lookup;
pub mod delete;
