//! A conformance-suite testee client (the Autobahn|Testsuite convention):
//! read the case count from `/getCaseCount`, echo every message of each
//! case at `/runCase?case=N&agent=AGENT` until the peer closes, then ask
//! for the reports at `/updateReports?agent=AGENT`.
//!
//! Every connection offers permessage-deflate, as browsers do, so the
//! suite's compression sections (12.x, 13.x) test the client role too.
//!
//! ```text
//! cargo run --release --example autobahn_client -- [--url ws://127.0.0.1:9001] [--agent wsstack] [--cases N]
//! ```

use wsstack::client::MaybeTlsStream;
use wsstack::connection::Event;
use wsstack::{ClientBuilder, Connection, Error, Limits, Message};

fn open(url: &str) -> Result<Connection<MaybeTlsStream>, Error> {
    let limits = Limits::default()
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    let (conn, _) = ClientBuilder::new(url).limits(limits).connect()?;
    Ok(conn)
}

fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let mut conn = open(&format!("{base}/getCaseCount"))?;
    let count = match conn.recv()? {
        Some(Message::Text(t)) => t.trim().parse()?,
        other => return Err(format!("expected the case count, got {other:?}").into()),
    };
    let _ = conn.close(1000, "");
    Ok(count)
}

/// Echo until the peer closes or the connection fails.
fn run_case(base: &str, case: u32, agent: &str) -> Result<(), Error> {
    let mut conn = open(&format!("{base}/runCase?case={case}&agent={agent}"))?;
    loop {
        match conn.next_event() {
            Ok(Event::Message(Message::Text(t))) => conn.send(Message::Text(t))?,
            Ok(Event::Message(Message::Binary(b))) => conn.send(Message::Binary(b))?,
            Ok(Event::Closed { .. }) | Err(Error::ConnectionClosed) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut base = "ws://127.0.0.1:9001".to_string();
    let mut agent = "wsstack".to_string();
    let mut limit = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => base = value()?.trim_end_matches('/').to_string(),
            "--agent" => agent = value()?,
            "--cases" => limit = Some(value()?.parse::<u32>()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let count = case_count(&base)?;
    let count = limit.map_or(count, |l| l.min(count));
    println!("running {count} cases against {base} as {agent}");
    for case in 1..=count {
        if let Err(e) = run_case(&base, case, &agent) {
            // Failing the connection is often the expected outcome.
            println!("case {case}: {e}");
        }
    }
    let mut conn = open(&format!("{base}/updateReports?agent={agent}"))?;
    while conn.recv()?.is_some() {}
    println!("reports updated");
    Ok(())
}
