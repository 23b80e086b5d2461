//! Talking to brokers: non-blocking framed connections, the sender's waker, and the cluster view.
pub mod connection;
pub mod metadata;
pub(crate) mod waker;
