//! Talking to brokers: framing over blocking sockets and the cluster view.
pub mod connection;
pub mod metadata;
