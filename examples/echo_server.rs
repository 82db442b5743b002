//! An echo server on ws://127.0.0.1:9001 that a browser can talk to.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:9001] [--max-frame BYTES]
//! ```
//!
//! Each client gets a thread. This version works at the frame level: data
//! frames (fragments included) are echoed as they come, pings answered with
//! pongs, and a close answered with a close. The Connection layer will
//! replace the frame loop.

use std::net::{TcpListener, TcpStream};
use std::thread;

use wsstack::frame::{Frame, FrameSocket, OpCode};
use wsstack::handshake::ServerConfig;
use wsstack::{Error, Limits};

fn serve(tcp: TcpStream, config: &ServerConfig) -> Result<(), Error> {
    tcp.set_nodelay(true)?;
    let (mut ws, request) = FrameSocket::accept(tcp, config)?;
    log_line(&format!("open {}", request.target()));
    loop {
        let frame = match ws.recv() {
            Ok(f) => f,
            Err(Error::Frame(e)) => {
                let _ = ws.send(&Frame::close(e.close_code(), ""));
                return Err(Error::Frame(e));
            }
            Err(e) => return Err(e),
        };
        match frame.opcode {
            OpCode::Ping => ws.send(&Frame::pong(frame.payload))?,
            OpCode::Pong => {}
            OpCode::Close => {
                let reply = match frame.close_code_and_reason() {
                    Some((code, _)) => Frame::close(code, ""),
                    None => Frame::close_empty(),
                };
                ws.send(&reply)?;
                return Ok(());
            }
            _ => {
                let echo = Frame {
                    mask: None,
                    ..frame
                };
                ws.send(&echo)?;
            }
        }
    }
}

fn log_line(s: &str) {
    if std::env::var_os("QUIET").is_none() {
        eprintln!("echo_server: {s}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut limits = Limits::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--max-frame" => {
                limits.max_frame_size = args.next().ok_or("--max-frame needs a value")?.parse()?
            }
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    limits.validate()?;
    let config = ServerConfig::new().with_limits(limits);
    let listener = TcpListener::bind(&addr)?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    for tcp in listener.incoming() {
        let tcp = tcp?;
        let config = config.clone();
        thread::spawn(move || {
            if let Err(e) = serve(tcp, &config) {
                log_line(&format!("connection ended: {e}"));
            }
        });
    }
    Ok(())
}
