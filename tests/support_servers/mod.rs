//! The server suite's harness (`servers.rs`, `servers_queued.rs`): a
//! server of any kind on 127.0.0.1:0 run on its own thread and stopped on
//! drop, a tungstenite client, a raw-frame client, and a handler that
//! records what it sees (and echoes, counts, panics on request).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wsstack::handshake::{ClientRequest, Rejection, Request};
use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle, ServerKind};
use wsstack::CloseCode;
use wsstack::FrameSocket;
use wsstack::{Error, Message};

/// Bounds every wait in this file.
pub const WAIT: Duration = Duration::from_secs(20);

/// The server kinds of this suite (each behind its feature).
pub type Kind = ServerKind;

pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub thread: Option<JoinHandle<Result<(), wsstack::Error>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Shut down and wait for `run` to return.
    pub fn stop(mut self) {
        self.handle.shutdown();
        let t = self.thread.take().unwrap();
        t.join().unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

pub fn start<H: Handler>(kind: Kind, builder: ServerBuilder, handler: H) -> Running {
    let server = builder
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(1))
        .bind(kind)
        .unwrap_or_else(|e| panic!("bind the {kind} server: {e}"));
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let thread = Some(thread::spawn(move || server.run(handler)));
    Running {
        addr,
        handle,
        thread,
    }
}

pub fn connect(
    url: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let (ws, _) = tungstenite::connect(url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    ws
}

/// What the recording handler saw, in order.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Seen {
    Open(String),
    Message(Message),
    Close(CloseCode, String),
    /// `on_error`; `io`: a transport failure rather than the peer's
    /// protocol violation.
    Error {
        io: bool,
    },
    /// `on_sent` with the message's id.
    Sent(u64),
    /// How a "flood" ended.
    Flooded(String),
}

pub type Clients = Arc<Mutex<Vec<Client<u32>>>>;

/// Echoes, counts messages per client in its data, records events and
/// keeps every client handle.
pub struct Recorder {
    pub events: Sender<Seen>,
    pub clients: Clients,
}

impl Recorder {
    pub fn new() -> (Recorder, Receiver<Seen>, Clients) {
        let (tx, rx) = mpsc::channel();
        let clients = Arc::default();
        (
            Recorder {
                events: tx,
                clients: Arc::clone(&clients),
            },
            rx,
            clients,
        )
    }
}

impl Handler for Recorder {
    type Data = u32;

    fn on_handshake(&self, request: &Request) -> Result<u32, Rejection> {
        match request.path() {
            "/forbidden" => Err(Rejection::status(403)),
            // The client's data starts from the request: `?start=N`.
            _ => Ok(request
                .query_param("start")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)),
        }
    }

    fn on_open(&self, client: &Client<u32>) {
        self.clients.lock().unwrap().push(client.clone());
        let _ = self.events.send(Seen::Open(client.path().to_owned()));
    }

    fn on_message(&self, client: &Client<u32>, message: Message) {
        if message.as_text() == Some("panic") {
            panic!("the handler was asked to panic");
        }
        if message.as_text() == Some("count") {
            let n = *client.data();
            let _ = client.send(format!("count={n}"));
            return;
        }
        if message.as_text() == Some("flood") {
            // 64 KiB messages until a send fails (or 256 MiB went in).
            let chunk = vec![0x5au8; 64 * 1024];
            let mut sent = 0;
            let outcome = loop {
                match client.send(chunk.clone()) {
                    Ok(_) if sent < 4096 => sent += 1,
                    Ok(_) => break "256 MiB accepted".to_owned(),
                    Err(e) => break format!("send {} failed: {e}", sent + 1),
                }
            };
            let _ = self.events.send(Seen::Flooded(outcome));
            return;
        }
        *client.data() += 1;
        let _ = self.events.send(Seen::Message(message.clone()));
        let _ = client.send(message);
    }

    fn on_close(&self, _client: &Client<u32>, code: CloseCode, reason: &str) {
        let _ = self.events.send(Seen::Close(code, reason.to_owned()));
    }

    fn on_error(&self, _client: &Client<u32>, error: &Error) {
        let io = matches!(error, Error::Io(_));
        let _ = self.events.send(Seen::Error { io });
    }

    fn on_sent(&self, _client: &Client<u32>, id: u64) {
        let _ = self.events.send(Seen::Sent(id));
    }
}

pub fn next(rx: &Receiver<Seen>) -> Seen {
    loop {
        match rx.recv_timeout(WAIT).expect("handler event") {
            Seen::Sent(_) => continue,
            other => return other,
        }
    }
}

pub fn raw_client(server: &Running) -> FrameSocket<TcpStream> {
    let request = ClientRequest::new(&server.url("/")).unwrap();
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    FrameSocket::connect(tcp, &request).unwrap().0
}

/// The next `on_close`.
pub fn next_close(rx: &Receiver<Seen>) -> (CloseCode, String) {
    loop {
        if let Seen::Close(code, reason) = next(rx) {
            return (code, reason);
        }
    }
}
