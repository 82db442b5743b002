//! `wsstack connect URL`: stdin lines become messages, messages go to
//! stdout, and the exit status tells how the connection ended.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use wsstack::client::MaybeTlsStream;
use wsstack::handshake::WsUrl;
use wsstack::{ClientBuilder, CloseCode, Connection, Error, Message};

use crate::args::ConnectArgs;
use crate::serve::init_logging;

/// The exit statuses of `wsstack connect`, as `--help` shows them.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  normal end: stdin ended, the --wait time passed and our close (1000) was
     answered, or the server closed with 1000 (or a Close without a code)
  1  error: could not connect (refused, TLS, handshake), I/O or protocol error,
     or the connection dropped without a Close (1006)
  2  usage: bad arguments (an unknown option, a header without ':', a bad URL)
  3  the server closed with another code (e.g. 1001, 1008, 1009, 1011, 4000);
     the code and reason are printed on stderr";

/// Exit status: normal end.
pub const EXIT_OK: u8 = 0;
/// Exit status: error.
pub const EXIT_ERROR: u8 = 1;
/// Exit status: usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the server closed with a code other than 1000.
pub const EXIT_CLOSED: u8 = 3;

/// How often the loop looks at stdin while waiting for messages.
const POLL: Duration = Duration::from_millis(10);
/// How long our close waits for the server's.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

enum Input {
    Line(Vec<u8>),
    End,
    Failed(io::Error),
}

/// The client the arguments ask for, checked.
fn builder(args: &ConnectArgs) -> Result<(ClientBuilder, Duration), String> {
    let url = WsUrl::parse(&args.url).map_err(|e| format!("{}: {e}", args.url))?;
    let wait = Duration::try_from_secs_f64(args.wait)
        .map_err(|_| format!("--wait expects a number of seconds >= 0, not {}", args.wait))?;
    let mut b = ClientBuilder::new(args.url.clone());
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("--header expects NAME:VALUE, not {header:?}"))?;
        if name.trim().is_empty() {
            return Err(format!("--header {header:?}: the name is empty"));
        }
        b = b.header(name.trim(), value.trim());
    }
    if !args.subprotocols.is_empty() {
        b = b.subprotocols(args.subprotocols.iter().cloned());
    }
    if let Some(user) = &args.user {
        let (name, password) = user
            .split_once(':')
            .ok_or_else(|| "--user expects USER:PASS".to_owned())?;
        b = b.basic_auth(name, password);
    }
    if let Some(origin) = &args.origin {
        b = b.origin(origin.clone());
    }
    if args.no_deflate {
        b = b.deflate(false);
    }
    if args.insecure_dangerous_skip_verify {
        if url.secure {
            log::warn!(
                "--insecure-dangerous-skip-verify: the server's certificate is NOT verified"
            );
            b = b.tls(
                wsstack::tls::TlsClientConfig::new().dangerous_disable_certificate_verification(),
            );
        } else {
            log::warn!("--insecure-dangerous-skip-verify does nothing for a ws:// URL");
        }
    }
    Ok((b, wait))
}

/// Run `wsstack connect`; see [`EXIT_STATUS_HELP`] for the exit status.
pub fn connect(args: ConnectArgs) -> ExitCode {
    init_logging(args.log_level.as_deref(), "warn");
    let (builder, wait) = match builder(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("wsstack connect: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (conn, response) = match builder.connect() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsstack connect: {}: {e}", redact(&args.url));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if let Some(protocol) = response.header("Sec-WebSocket-Protocol") {
        log::info!("subprotocol: {protocol}");
    }
    if let Some(extensions) = response.header("Sec-WebSocket-Extensions") {
        log::info!("extensions: {extensions}");
    }
    ExitCode::from(session(conn, stdin_lines(), args.binary, wait))
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Read stdin on a thread of its own, line by line.
fn stdin_lines() -> Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let input = match stdin.read_until(b'\n', &mut line) {
                Ok(0) => Input::End,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    Input::Line(line)
                }
                Err(e) => Input::Failed(e),
            };
            let last = !matches!(input, Input::Line(_));
            if tx.send(input).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// Write one message and a newline to stdout.
fn print(message: &Message) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(message.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Send stdin, print messages, and end as [`EXIT_STATUS_HELP`] says.
fn session(
    mut conn: Connection<MaybeTlsStream>,
    input: Receiver<Input>,
    binary: bool,
    wait: Duration,
) -> u8 {
    let mut ended: Option<Instant> = None;
    loop {
        while ended.is_none() {
            let line = match input.try_recv() {
                Ok(Input::Line(line)) => line,
                Ok(Input::End) | Err(TryRecvError::Disconnected) => {
                    ended = Some(Instant::now());
                    break;
                }
                Ok(Input::Failed(e)) => {
                    eprintln!("wsstack connect: reading stdin: {e}");
                    ended = Some(Instant::now());
                    break;
                }
                Err(TryRecvError::Empty) => break,
            };
            let message = if binary {
                Message::Binary(line)
            } else {
                match String::from_utf8(line) {
                    Ok(text) => Message::Text(text),
                    Err(e) => {
                        log::warn!("a stdin line is not UTF-8: sent as a binary message");
                        Message::Binary(e.into_bytes())
                    }
                }
            };
            if let Err(e) = conn.send(message) {
                // The server may have closed first: its code decides.
                return match conn.close_status() {
                    Some(_) => closed_by_server(&conn),
                    None => failed(&conn, &e),
                };
            }
        }
        let timeout = match ended {
            None => POLL,
            Some(at) => {
                let left = (at + wait).saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return close(conn);
                }
                left
            }
        };
        conn.set_read_timeout(Some(timeout));
        match conn.recv() {
            Ok(Some(message)) => {
                if print(&message).is_err() {
                    // stdout is gone (e.g. `| head -1`): end quietly.
                    return close(conn);
                }
            }
            Ok(None) => return closed_by_server(&conn),
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => return failed(&conn, &e),
        }
    }
}

/// Our side closes (1000) and waits for the server's Close.
fn close(mut conn: Connection<MaybeTlsStream>) -> u8 {
    conn.set_read_timeout(Some(CLOSE_WAIT));
    match conn.close(CloseCode::NORMAL, "") {
        Ok((code, reason)) => log::info!("closed: {code} {reason:?}"),
        Err(e) => log::info!("closing: {e}"),
    }
    let _ = conn.get_mut().shutdown();
    EXIT_OK
}

/// The server closed: 0 for 1000 (or no code), 3 for any other code, 1
/// for a connection dropped without a Close.
fn closed_by_server(conn: &Connection<MaybeTlsStream>) -> u8 {
    let (code, reason) = conn.close_status().unwrap_or((CloseCode::ABNORMAL, ""));
    if code == CloseCode::NORMAL || code == CloseCode::NO_STATUS {
        log::info!("the server closed: {code} {reason:?}");
        EXIT_OK
    } else if code == CloseCode::ABNORMAL {
        eprintln!("wsstack connect: the connection dropped without a Close (1006)");
        EXIT_ERROR
    } else {
        eprintln!("wsstack connect: the server closed the connection: {code} {reason:?}");
        EXIT_CLOSED
    }
}

fn failed(conn: &Connection<MaybeTlsStream>, e: &Error) -> u8 {
    match conn.close_status() {
        Some((code, reason)) => {
            eprintln!("wsstack connect: {e} (closed with {code} {reason:?})")
        }
        None => eprintln!("wsstack connect: {e}"),
    }
    EXIT_ERROR
}
