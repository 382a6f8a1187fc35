//! What every command shares: the backend chosen by cargo feature, the allocator's settings,
//! progress bars that also show in logs, and files written so that no reader sees half of one.

pub mod backend;
pub mod files;
pub mod memory;
pub mod progress;
