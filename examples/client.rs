//! A client in one call: `cargo run --example client -- wss://host/path [message]`
//! (default `ws://127.0.0.1:9001/`, e.g. `cargo run --example echo_server`).
//! Sends one text message, prints the reply, closes.

fn main() -> Result<(), wsstack::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let text = args.next().unwrap_or_else(|| "Hello, server!".into());
    let (mut conn, _response) = wsstack::connect(&url)?;
    conn.send(text)?;
    if let Some(reply) = conn.recv()? {
        println!("reply: {}", String::from_utf8_lossy(reply.as_bytes()));
    }
    let (code, reason) = conn.close(1000, "done")?;
    println!("closed: {code} {reason}");
    Ok(())
}
