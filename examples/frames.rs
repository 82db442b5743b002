//! Sending frames over a WebSocket: a server that
//! accepts one client, sends it a text frame and prints the frame it gets
//! back, and a client that connects and sends a masked text frame.
//!
//! ```text
//! cargo run --example frames -- server 127.0.0.1:8000
//! cargo run --example frames -- client ws://127.0.0.1:8000/my/path
//! ```
//! With no arguments, runs both ends against each other on a free port.

use std::net::{TcpListener, TcpStream};
use std::thread;

use wsstack::frame::Frame;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::FrameSocket;

fn server(listener: TcpListener) -> Result<(), wsstack::Error> {
    let (tcp, peer) = listener.accept()?;
    let (mut client, request) = FrameSocket::accept(tcp, &ServerConfig::new())?;
    println!("server: {peer} upgraded on {}", request.path());
    client.send(&Frame::text("Hello, Client!"))?;
    let frame = client.recv()?;
    println!(
        "server: got {} frame {:?}",
        frame.opcode,
        String::from_utf8_lossy(&frame.payload)
    );
    client.send(&Frame::close(1000, "bye"))?;
    Ok(())
}

fn client(url: &str) -> Result<(), wsstack::Error> {
    let request = ClientRequest::new(url)?;
    let tcp = TcpStream::connect(request.address())?;
    let (mut sock, _response) = FrameSocket::connect(tcp, &request)?;
    // A client masks every frame; the key comes from the OS CSPRNG.
    sock.send(&Frame::text("Hello, Server!"))?;
    loop {
        let frame = sock.recv()?;
        println!(
            "client: got {} frame {:?}",
            frame.opcode,
            String::from_utf8_lossy(&frame.payload)
        );
        if frame.opcode == wsstack::frame::OpCode::Close {
            sock.send(&Frame::close(1000, ""))?;
            return Ok(());
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:8000", String::as_str);
            server(TcpListener::bind(addr)?)?;
        }
        Some("client") => client(args.get(1).map_or("ws://127.0.0.1:8000/", String::as_str))?,
        _ => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let url = format!("ws://{}/my/path", listener.local_addr()?);
            let s = thread::spawn(move || server(listener));
            client(&url)?;
            s.join().expect("server thread")?;
        }
    }
    Ok(())
}
