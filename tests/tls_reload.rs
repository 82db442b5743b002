//! A server's certificate can be replaced while it runs: new handshakes
//! present the new certificate, an open connection keeps working.

mod support;
mod support_tls;

use std::thread;

use support_tls::Pki;
use wsstack::server::{Callbacks, ServerBuilder, ServerKind};
use wsstack::tls::{TlsClientConfig, TlsError, TlsServerConfig};
use wsstack::{ClientBuilder, Error, Message};

fn reload(kind: ServerKind) {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap();
    let echo = Callbacks::<()>::new().on_message(|client, message| {
        let _ = client.send(message.clone());
    });
    let server = ServerBuilder::new()
        .address("127.0.0.1:0")
        .tls(tls.clone())
        .bind(kind)
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let running = thread::spawn(move || server.run(echo));
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let client = || {
        ClientBuilder::new(&url)
            .no_proxy()
            .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap())
            .connect()
    };

    let (mut before, _) = client().expect("the first certificate is valid for 127.0.0.1");
    before.send("one").unwrap();
    assert_eq!(before.recv().unwrap(), Some(Message::Text("one".into())));

    // Renewed with a certificate for another host name: new clients that
    // check the name must now refuse it, which proves it is presented.
    tls.reload_pem_files(&pki.wrong_host.cert, &pki.wrong_host.key)
        .unwrap();
    match client() {
        Err(Error::Tls(TlsError::WrongHostName { .. })) => {}
        other => panic!("{kind}: expected the reloaded certificate to be presented, got {other:?}"),
    }
    // The connection made before the reload is not affected.
    before.send("two").unwrap();
    assert_eq!(before.recv().unwrap(), Some(Message::Text("two".into())));

    // And back.
    tls.reload_pem(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .unwrap();
    let (mut after, _) = client().expect("the original certificate again");
    after.send("three").unwrap();
    assert_eq!(after.recv().unwrap(), Some(Message::Text("three".into())));

    // A reload that fails changes nothing.
    assert!(tls.reload_pem(b"", b"").is_err());
    let (mut still, _) = client().expect("still the original certificate");
    still.send("four").unwrap();
    assert_eq!(still.recv().unwrap(), Some(Message::Text("four".into())));

    drop((before, after, still));
    handle.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn reload_on_the_event_loop_server() {
    reload(ServerKind::EventLoop);
}

#[test]
fn reload_on_the_threaded_server() {
    reload(ServerKind::Threaded);
}
