//! The mock brokers' sockets: one acceptor thread per broker, one thread per connection that
//! reads request frames, has `wire` answer them against the shared state, and writes the
//! responses (after the broker's delay). Blocking I/O: this is test infrastructure.

use super::{wire, Shared};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest request frame the mock reads.
const MAX_REQUEST: usize = 64 * 1024 * 1024;

pub(super) fn accept(shared: Arc<Shared>, broker: i32, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let up = shared.state.lock().broker_up(broker);
        if !up {
            drop(stream); // a down broker refuses (closes) new connections
            continue;
        }
        let _ = stream.set_nodelay(true);
        if let Ok(clone) = stream.try_clone() {
            shared.state.lock().connections.push((broker, clone));
        }
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name(format!("mock-broker-{broker}-conn"))
            .spawn(move || serve(s, broker, stream));
    }
}

fn serve(shared: Arc<Shared>, broker: i32, mut stream: TcpStream) {
    let mut size = [0u8; 4];
    loop {
        if stream.read_exact(&mut size).is_err() {
            break;
        }
        let n = i32::from_be_bytes(size);
        if n < 0 || n as usize > MAX_REQUEST {
            break;
        }
        let mut frame = vec![0u8; n as usize];
        if stream.read_exact(&mut frame).is_err() {
            break;
        }
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let mut last_try = false;
        let (body, delay) = loop {
            let mut st = shared.state.lock();
            if !st.broker_up(broker) {
                return close(&shared, stream);
            }
            let delay = st.brokers.iter().find(|b| b.id == broker).map(|b| b.delay).unwrap_or_default();
            match wire::handle(&mut st, broker, &frame, last_try) {
                wire::Answer::Reply(body) => break (Some(body), delay),
                wire::Answer::Nothing => break (None, delay),
                wire::Answer::WaitAndRetry(wait) => {
                    drop(st);
                    std::thread::sleep(wait);
                    last_try = true;
                }
            }
        };
        let Some(body) = body else { continue };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(&body);
        if stream.write_all(&out).is_err() {
            break;
        }
    }
    close(&shared, stream)
}

fn close(shared: &Shared, stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let mut st = shared.state.lock();
    if let Ok(local) = stream.local_addr() {
        let peer = stream.peer_addr().ok();
        st.connections.retain(|(_, s)| !(s.local_addr().ok() == Some(local) && s.peer_addr().ok() == peer));
    }
}
