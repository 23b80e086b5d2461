//! Talking to brokers: non-blocking framed connections, the sender's waker, and the cluster view.
pub mod connection;
pub(crate) mod frame;
pub mod metadata;
pub(crate) mod waker;
