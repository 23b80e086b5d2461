//! (in progress)
pub mod accumulator;
pub mod buffer_pool;
pub mod future;
pub mod partitioner;
pub mod record;
pub mod sender;
