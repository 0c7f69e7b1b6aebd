//! In-memory backends: everything in this process, for a single node.

mod broker;
mod presence;

pub use broker::MemoryBroker;
pub use presence::MemoryPresenceManager;
