//! Helpers for the TLS client and proxy tests: a test PKI generated with
//! rcgen (a CA, server certificates for 127.0.0.1/localhost, one for
//! another host name, an expired one, a client certificate, an unrelated
//! CA) written to a temporary folder; the `py_tls_server` / `node_tls_server`
//! peers; and a private tinyproxy on a free loopback port.
//!
//! Needs `mod support;` next to `mod support_tls;` in the test crate. A
//! missing peer or tinyproxy fails the test with a clear message.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::support::{self, PEER_TIMEOUT};

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsstack-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `contents` to `name` in the folder; returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate and its key, as PEM text and as files.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The test PKI, in a temporary folder.
pub struct Pki {
    pub dir: TempDir,
    /// The CA's certificate (PEM file).
    pub ca: PathBuf,
    pub ca_pem: String,
    /// For 127.0.0.1, ::1 and localhost, signed by the CA.
    pub server: Issued,
    /// For other.example only, signed by the CA.
    pub wrong_host: Issued,
    /// For 127.0.0.1 and localhost, signed by the CA, expired in 2021.
    pub expired: Issued,
    /// A client certificate signed by the CA.
    pub client: Issued,
    /// A CA that signed nothing here.
    pub other_ca_pem: String,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TempDir::new("pki");
        let (ca_cert, ca_key) = ca("wsstack test CA");
        let issue = |name: &str, sans: &[&str], client: bool, expired: bool| -> Issued {
            let key = KeyPair::generate().unwrap();
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![if client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            if expired {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
            Issued {
                cert: dir.write(&format!("{name}.crt"), &cert_pem),
                key: dir.write(&format!("{name}.key"), &key_pem),
                cert_pem,
                key_pem,
            }
        };
        let server = issue("server", &["127.0.0.1", "::1", "localhost"], false, false);
        let wrong_host = issue("wrong-host", &["other.example"], false, false);
        let expired = issue("expired", &["127.0.0.1", "localhost"], false, true);
        let client = issue("client", &["client.example"], true, false);
        let ca_pem = ca_cert.pem();
        let other_ca_pem = ca("another CA").0.pem();
        Pki {
            ca: dir.write("ca.crt", &ca_pem),
            ca_pem,
            server,
            wrong_host,
            expired,
            client,
            other_ca_pem,
            dir,
        }
    }
}

/// A running peer server or tinyproxy; killed on drop.
pub struct Running {
    child: Child,
    _stdin: Option<ChildStdin>,
    pub port: u16,
    /// Output lines after the first (tinyproxy's log).
    pub lines: Option<Receiver<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Wait (bounded) for an output line containing `needle`.
    pub fn wait_for_line(&self, needle: &str) -> String {
        self.try_wait_for_line(needle)
            .unwrap_or_else(|why| panic!("no output line containing {needle:?}: {why}"))
    }

    fn try_wait_for_line(&self, needle: &str) -> Result<String, &'static str> {
        let lines = self
            .lines
            .as_ref()
            .expect("this process's output is not kept");
        let end = Instant::now() + PEER_TIMEOUT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => return Err("timed out"),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the process ended"),
            }
        }
    }
}

/// Which peer implementation.
#[derive(Clone, Copy, Debug)]
pub enum TlsPeer {
    Python,
    Node,
}

/// Start `py_tls_server.py` or `node_tls_server.js` with `args` and wait
/// for its port.
pub fn spawn_peer(peer: TlsPeer, args: &[&str]) -> Running {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = match peer {
        TlsPeer::Python => {
            let mut c = Command::new(support::python());
            c.arg(repo.join("tests/peers/py_tls_server.py"));
            c
        }
        TlsPeer::Node => {
            let dir = support::node_peers();
            let mut c = Command::new("node");
            c.arg(dir.join("node_tls_server.js")).current_dir(dir);
            c
        }
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} TLS peer server: {e}"));
    let stdin = child.stdin.take();
    let what = format!("{peer:?} TLS server");
    let line = support::first_line(child.stdout.take().unwrap(), &what);
    Running {
        port: support::port_of(&line, &what),
        child,
        _stdin: stdin,
        lines: None,
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tinyproxy binary; fails the test when missing.
pub fn tinyproxy_path() -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join("tinyproxy");
        if path.exists() {
            return path;
        }
    }
    panic!("tinyproxy missing: run ./scripts/setup-peers.sh (it installs Debian's tinyproxy)");
}

/// Start tinyproxy on a free loopback port, allowing CONNECT to
/// `connect_ports` only, with `BasicAuth` when `auth` is given; returns
/// once it accepts connections. Its log lines are kept in `lines`. Tries
/// three ports, in case another process took the free one first.
pub fn spawn_tinyproxy(
    dir: &TempDir,
    connect_ports: &[u16],
    auth: Option<(&str, &str)>,
) -> Running {
    let mut why = "";
    for _ in 0..3 {
        let running = start_tinyproxy(dir, free_port(), connect_ports, auth);
        match running.try_wait_for_line("Accepting connections") {
            Ok(_) => return running,
            Err(e) => why = e,
        }
    }
    panic!("tinyproxy did not start: {why}");
}

fn start_tinyproxy(
    dir: &TempDir,
    port: u16,
    connect_ports: &[u16],
    auth: Option<(&str, &str)>,
) -> Running {
    let mut conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nAllow 127.0.0.1\n\
         LogLevel Info\nDisableViaHeader Yes\n"
    );
    for p in connect_ports {
        conf.push_str(&format!("ConnectPort {p}\n"));
    }
    if let Some((user, password)) = auth {
        conf.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    let conf_path = dir.write(&format!("tinyproxy-{port}.conf"), &conf);
    let mut child = Command::new(tinyproxy_path())
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start tinyproxy: {e}"));
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                eprintln!("tinyproxy: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Running {
        child,
        _stdin: None,
        port,
        lines: Some(rx),
    }
}

/// Bound on every blocking read in these tests.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
