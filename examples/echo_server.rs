//! The README's main job: an echo server on ws://127.0.0.1:9001 that a
//! browser can talk to. A thread per connection, each running a blocking
//! `Connection`; every message is echoed back as it came.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:9001]
//!     [--max-frame BYTES] [--max-message BYTES] [--fragment-size BYTES] [--quiet]
//! ```
//!
//! Ctrl-C stops accepting, closes every client with 1001 ("going away")
//! where it can, and exits with status 0.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wsstack::connection::{Config, Event};
use wsstack::handshake::ServerConfig;
use wsstack::{Connection, Error, Limits, Message};

/// How often a connection thread looks at the stop flag while idle.
const STOP_CHECK: Duration = Duration::from_millis(250);

fn serve(
    tcp: TcpStream,
    handshake: &ServerConfig,
    config: Config,
    stop: &AtomicBool,
    quiet: bool,
) -> Result<(), Error> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(STOP_CHECK))?;
    let (mut conn, request) = Connection::accept(tcp, handshake, config)?;
    if !quiet {
        eprintln!("echo_server: open {}", request.target());
    }
    loop {
        match conn.next_event() {
            Ok(Event::Text(t)) => conn.send(Message::Text(t))?,
            Ok(Event::Binary(b)) => conn.send(Message::Binary(b))?,
            Ok(Event::Closed { code, reason }) => {
                if !quiet {
                    eprintln!("echo_server: closed {code} {reason:?}");
                }
                return Ok(());
            }
            Ok(_) => {}
            // A read timed out: the engine keeps any partial frame, so
            // just check for Ctrl-C and carry on.
            Err(Error::Io(e)) if is_timeout(&e) => {
                if stop.load(Ordering::SeqCst) {
                    // Our Close goes out once; its reply is awaited for
                    // a few read timeouts at most.
                    for _ in 0..8 {
                        match conn.close(1001, "server shutting down") {
                            Err(Error::Io(e)) if is_timeout(&e) => continue,
                            _ => break,
                        }
                    }
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut limits = Limits::default();
    let mut config = Config::default();
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?,
            "--max-frame" => limits.max_frame_size = value()?.parse()?,
            "--max-message" => limits.max_message_size = value()?.parse()?,
            "--fragment-size" => config.fragment_size = Some(value()?.parse()?),
            "--quiet" => quiet = true,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let config = config.with_limits(limits);
    config.validate()?;
    let handshake = ServerConfig::new().with_limits(limits);
    let listener = TcpListener::bind(&addr)?;
    let local = listener.local_addr()?;
    println!("echo server listening on ws://{local}");

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect(local);
        })?;
    }

    let mut threads = Vec::new();
    for tcp in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(tcp) = tcp else { continue };
        let (handshake, stop) = (handshake.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            if let Err(e) = serve(tcp, &handshake, config, &stop, quiet) {
                if !quiet {
                    eprintln!("echo_server: connection ended: {e}");
                }
            }
        }));
        threads.retain(|t| !t.is_finished());
    }

    // Every connection thread sees the flag within STOP_CHECK, closes its
    // client with 1001 and ends.
    for t in threads {
        let _ = t.join();
    }
    println!("echo server stopped");
    Ok(())
}
