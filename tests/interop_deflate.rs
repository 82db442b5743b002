//! Compression extensions against real peers, in both directions, through
//! the blocking [`wsstack::Connection`] (`Connection::accept` on our side as
//! server, `Connection::connect` as client):
//!
//! - permessage-deflate with Python `websockets` (its default
//!   `compression="deflate"`, and a factory with every RFC 7692 parameter):
//!   text and binary of 0 B .. 1 MiB whole and fragmented (the peer's
//!   fragments; ours with `send_fragment` and with `Config::fragment_size`),
//!   and 16 MiB of each kind each way;
//!
//! Node `ws` and deflate-frame are in `interop_deflate_node.rs`; the
//! helpers both use are in `tests/support_deflate/`.
//!
//! Every case checks that the extension was negotiated on both sides (our
//! `Engine::extension_names()`, the peer's own report: Python
//! `ws.protocol.extensions`, Node `ws.extensions` plus the accepted `params`)
//! with the parameters expected, that every payload arrives intact, that the
//! close handshake ends with 1000, and — by counting the bytes on our TCP
//! socket — that the data really went compressed both ways. Besides text
//! and binary, a "far" binary payload (a 3000-byte random block repeated)
//! checks that each compressor keeps to the agreed window: with 9-11-bit
//! windows an inflater fails on a back-reference 3000 bytes away.
//!
//! Peer programs: `tests/peers/py_deflate.py` and `tests/peers/node_deflate.js`
//! (see their headers).
#![cfg(feature = "deflate")]

mod support;
mod support_deflate;

use support_deflate::*;
use wsstack::connection::Config;
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::ServerConfig;

// ---------------------------------------------------------------------------
// Python `websockets`.

#[test]
fn python_clients_against_our_server() {
    // (py_deflate.py --pmd, how we echo, the response we must send, what
    // Python must report)
    let all_params = r#"{"server_no_context_takeover":true,"client_no_context_takeover":true,"server_max_window_bits":10,"client_max_window_bits":9}"#;
    let cases = [
        // compression="deflate": Python offers `client_max_window_bits`
        // only, so both sides keep 15-bit windows and their context.
        (
            "",
            Echo::Whole,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        (
            "",
            Echo::Fragments,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        (
            "",
            Echo::Auto,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        // Every parameter asked for by Python; we grant them all.
        (
            all_params,
            Echo::Fragments,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
            py_extension(true, true, 9, 10),
        ),
    ];
    for (pmd, echo, response, py_view) in cases {
        let case = format!("python client --pmd '{pmd}', we echo {echo:?}");
        let (addr, rx) = our_server(
            ServerConfig::new().with_extension(PerMessageDeflate::new()),
            echo,
            1,
        );
        let url = format!("ws://{addr}/");
        let mut args = vec!["client", "--url", &url, "--sizes", SIZES_ARG];
        args.extend(["--fragments", "4", "--kinds", KINDS_ARG]);
        if !pmd.is_empty() {
            args.extend(["--pmd", pmd]);
        }
        let (line, r) = run_peer_client(python(&args), &rx, &case);
        assert!(line.contains(&py_view), "{case}: Python reports {line}");
        assert_eq!(
            json_str(&line, "response").as_deref(),
            Some(response),
            "{case}"
        );
        let echoed = SIZES.len() * PER_SIZE;
        assert!(
            line.contains(&format!("\"echoed\":{echoed},")),
            "{case}: {line}"
        );
        assert!(line.contains("\"close\":1000,"), "{case}: {line}");
        check_server_report(&r, "permessage-deflate", echoed, &case);
        assert_eq!(r.response, response, "{case}");
        let offer = if pmd.is_empty() {
            "permessage-deflate; client_max_window_bits"
        } else {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
        };
        assert_eq!(r.offer, offer, "{case}: Python's offer");
        assert_compressed(&format!("{case}: out of our server"), r.wire.1, r.payload);
    }
}

#[test]
fn our_client_against_python_servers() {
    // Python's server defaults: 12-bit windows both ways.
    let server = PeerServer::start(python(&["server"]), "py_deflate.py server");
    let peer = our_client_session(
        &server.url(),
        PerMessageDeflate::new(),
        &set(&[
            "permessage-deflate",
            "server_max_window_bits=12",
            "client_max_window_bits=12",
        ]),
        true,
        "our client -> python server",
    );
    assert!(peer.contains(&py_extension(false, false, 12, 12)), "{peer}");
    assert!(
        peer.contains("\"offer\":\"permessage-deflate; client_max_window_bits\""),
        "{peer}"
    );

    // Every parameter asked for by us, of Python's default server.
    let ours = PerMessageDeflate::new()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true)
        .with_server_max_window_bits(Some(10))
        .with_client_max_window_bits(Some(9));
    let peer = our_client_session(
        &server.url(),
        ours,
        &set(&[
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits=10",
            "client_max_window_bits=9",
        ]),
        true,
        "our client (all parameters) -> python server",
    );
    assert!(peer.contains(&py_extension(true, true, 10, 9)), "{peer}");

    // A Python server that requires every parameter of us.
    let strict = PeerServer::start(
        python(&[
            "server",
            "--pmd",
            r#"{"server_no_context_takeover":true,"client_no_context_takeover":true,"server_max_window_bits":9,"client_max_window_bits":11}"#,
        ]),
        "py_deflate.py server (strict)",
    );
    let peer = our_client_session(
        &strict.url(),
        PerMessageDeflate::new(),
        &set(&[
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits=9",
            "client_max_window_bits=11",
        ]),
        true,
        "our client -> strict python server",
    );
    assert!(peer.contains(&py_extension(true, true, 9, 11)), "{peer}");
}

#[test]
fn sixteen_mib_each_kind_both_ways_with_python() {
    let big = BIG.to_string();
    // Python client -> our server (and back).
    let (addr, rx) = our_server(
        ServerConfig::new().with_extension(PerMessageDeflate::new()),
        Echo::Whole,
        1,
    );
    let url = format!("ws://{addr}/");
    let (line, r) = run_peer_client(
        python(&["client", "--url", &url, "--sizes", &big]),
        &rx,
        "python 16 MiB client",
    );
    assert!(line.contains("\"echoed\":2,"), "{line}");
    check_server_report(&r, "permessage-deflate", 2, "16 MiB");

    // Our client -> Python server (and back).
    let server = PeerServer::start(python(&["server"]), "py_deflate.py server");
    let mut client = OurClient::connect(&server.url(), PerMessageDeflate::new(), Config::default());
    assert_eq!(client.names(), ["permessage-deflate"]);
    client.round_trips(&[BIG], false, "our client 16 MiB");
    client.finish(true, "our client 16 MiB");
}
