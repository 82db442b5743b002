//! Compression extensions against Node `ws` and between our own client
//! and server, through the blocking [`wsstack::Connection`]:
//!
//! - permessage-deflate with Node `ws`, with each of its `perMessageDeflate`
//!   options (no context takeover either way, server windows 8/9/10/15,
//!   client windows 8/9/12/`true`, `threshold: 0`) and with each parameter
//!   set on our side instead;
//! - deflate-frame (and its `x-webkit-deflate-frame` name): neither
//!   `websockets` nor `ws` implements it (both support permessage-deflate
//!   only), so it is tested between our own client and server over TCP.
//!
//! The checks are those of `interop_deflate.rs` (negotiation on both
//! sides, every payload intact, a 1000 close, the bytes on our socket
//! showing compression), with its helpers in `tests/support_deflate/`.
//! Peer program: `tests/peers/node_deflate.js`.

mod support;
mod support_deflate;

use std::net::TcpStream;

use support::text_payload;
use support_deflate::*;
use wsstack::connection::Config;
use wsstack::extensions::{DeflateFrame, ExtensionFactory, PerMessageDeflate};
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::{Connection, Message};

// ---------------------------------------------------------------------------
// Node `ws`, each parameter on its side and on ours.

#[test]
fn node_clients_with_each_parameter_against_our_server() {
    // (node client perMessageDeflate, our server's policy, the agreed
    // parameters, our outgoing data compressed)
    let cases: Vec<(&str, PerMessageDeflate, &[&str], bool)> = vec![
        (r#"{"threshold":0}"#, PerMessageDeflate::new(), &[], true),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":10}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":15}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=15"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":12}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=12"],
            true,
        ),
        // `true` only says the client supports the parameter.
        (
            r#"{"threshold":0,"clientMaxWindowBits":true}"#,
            PerMessageDeflate::new(),
            &[],
            true,
        ),
        // 8 bits for ws's compressor (zlib silently uses 9 for raw deflate;
        // we inflate with 9, a superset).
        (
            r#"{"threshold":0,"clientMaxWindowBits":8}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=8"],
            true,
        ),
        // The smallest windows and no context either way.
        (
            r#"{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true,"serverMaxWindowBits":9,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &[
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=9",
                "client_max_window_bits=9",
            ],
            true,
        ),
        // Our server imposing each parameter on a default ws client.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_no_context_takeover(true),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_no_context_takeover(true),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(9)),
            &["client_max_window_bits=9"],
            true,
        ),
        // 8 bits for our compressor: we send stored blocks (uncompressed).
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(8)),
            &["server_max_window_bits=8"],
            false,
        ),
    ];
    let echoes = [Echo::Whole, Echo::Fragments, Echo::Auto];
    for (i, (node_opts, ours, agreed, ours_compressed)) in cases.into_iter().enumerate() {
        let echo = echoes[i % echoes.len()];
        let case = format!(
            "node client {node_opts}, our server's policy [{}], we echo {echo:?}",
            ours.offers()[0]
        );
        let mut expect = set(agreed);
        expect.insert("permessage-deflate".into());
        let (addr, rx) = our_server(ServerConfig::new().with_extension(ours), echo, 1);
        let url = format!("ws://{addr}/");
        let (line, r) = run_peer_client(
            node(&["client", &url, node_opts, SIZES_ARG, "3", KINDS_ARG]),
            &rx,
            &case,
        );
        assert!(
            line.contains("\"extensions\":\"permessage-deflate\""),
            "{case}: {line}"
        );
        assert_eq!(node_params(&line), expect, "{case}: ws's params: {line}");
        let response = json_str(&line, "response").unwrap();
        assert_eq!(header_params(&response), expect, "{case}: {line}");
        // 3 kinds x 7 sizes, whole and in 3 fragments (2 pings each).
        let echoed = SIZES.len() * PER_SIZE;
        assert!(
            line.contains(&format!("\"echoed\":{echoed},")),
            "{case}: {line}"
        );
        assert!(
            line.contains(&format!("\"pongs\":{echoed},")),
            "{case}: {line}"
        );
        check_server_report(&r, "permessage-deflate", echoed, &case);
        assert_eq!(r.response, response, "{case}");
        if ours_compressed {
            assert_compressed(&format!("{case}: out of our server"), r.wire.1, r.payload);
        } else {
            assert!(r.wire.1 > r.payload, "{case}: stored blocks");
        }
    }
}

#[test]
fn our_client_with_each_parameter_against_node_servers() {
    // (node server perMessageDeflate, our client's offer, the agreed
    // parameters, our outgoing data compressed)
    let cases: Vec<(&str, PerMessageDeflate, &[&str], bool)> = vec![
        (r#"{"threshold":0}"#, PerMessageDeflate::new(), &[], true),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":10}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":15}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=15"],
            true,
        ),
        // 8 bits for ws's compressor (zlib silently uses 9; we inflate with
        // 9, a superset).
        (
            r#"{"threshold":0,"serverMaxWindowBits":8}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=8"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":12}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=12"],
            true,
        ),
        // `true` on a server: no limit, and the parameter is left out.
        (
            r#"{"threshold":0,"clientMaxWindowBits":true}"#,
            PerMessageDeflate::new(),
            &[],
            true,
        ),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true,"serverMaxWindowBits":9,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &[
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=9",
                "client_max_window_bits=9",
            ],
            true,
        ),
        // Our client asking for each parameter of a default ws server.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_no_context_takeover(true),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_no_context_takeover(true),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(9)),
            &["client_max_window_bits=9"],
            true,
        ),
        // 8 bits for our compressor: we send stored blocks.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(8)),
            &["client_max_window_bits=8"],
            false,
        ),
        // Both sides limiting the server window: the smaller one wins.
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=9"],
            true,
        ),
    ];
    for (node_opts, ours, agreed, ours_compressed) in cases {
        let case = format!(
            "our client offering [{}] -> node server {node_opts}",
            ours.offers()[0]
        );
        let mut expect = set(agreed);
        expect.insert("permessage-deflate".into());
        let server = PeerServer::start(node(&["server", node_opts]), &case);
        let peer = our_client_session(&server.url(), ours, &expect, ours_compressed, &case);
        assert!(
            peer.contains("\"extensions\":\"permessage-deflate\""),
            "{case}: {peer}"
        );
        assert_eq!(node_params(&peer), expect, "{case}: ws's params: {peer}");
    }
}

// ---------------------------------------------------------------------------
// deflate-frame: no peer implements it (Python `websockets` and Node `ws`
// only have permessage-deflate), so our client against our server.

#[test]
fn deflate_frame_between_our_client_and_server() {
    // (client factory, the name negotiated, the server's response)
    let cases = [
        (DeflateFrame::new(), "deflate-frame", "deflate-frame"),
        (
            DeflateFrame::new().with_webkit_name(true),
            "x-webkit-deflate-frame",
            "x-webkit-deflate-frame",
        ),
        (
            DeflateFrame::new()
                .with_max_window_bits(Some(10))
                .with_no_context_takeover(true),
            "deflate-frame",
            "deflate-frame",
        ),
        (
            DeflateFrame::new()
                .with_webkit_name(true)
                .with_max_window_bits(Some(9)),
            "x-webkit-deflate-frame",
            "x-webkit-deflate-frame",
        ),
    ];
    let echoes = [Echo::Fragments, Echo::Whole, Echo::Auto, Echo::Fragments];
    for (i, (client_ext, name, response)) in cases.into_iter().enumerate() {
        let echo = echoes[i];
        let case = format!(
            "deflate-frame client offering [{}], we echo {echo:?}",
            client_ext.offers()[0]
        );
        let (addr, rx) = our_server(
            ServerConfig::new().with_extension(DeflateFrame::new()),
            echo,
            2,
        );
        let url = format!("ws://{addr}/");
        let mut client = OurClient::connect(&url, client_ext.clone(), Config::default());
        assert_eq!(client.names(), [name], "{case}");
        assert_eq!(client.response, response, "{case}");
        client.round_trips(&SIZES, true, &case);
        client.split_characters(&case);
        if i == 0 {
            client.round_trips(&[BIG], false, &case);
        }
        client.finish(true, &case);
        let r = server_report(&rx);
        let per_size = if i == 0 { 3 } else { 0 };
        check_server_report(&r, name, SIZES.len() * PER_SIZE + 1 + per_size, &case);
        assert_eq!(r.response, response, "{case}");
        assert_eq!(r.offer, client_ext.offers()[0].to_string(), "{case}");

        // Automatic fragmentation on our client: every frame compressed on
        // its own.
        let auto = Config::default().with_fragment_size(Some(AUTO_FRAGMENT));
        let mut client = OurClient::connect(&url, client_ext, auto);
        assert_eq!(client.names(), [name], "{case}");
        client.round_trips(&SIZES, false, &format!("{case} (auto fragments)"));
        client.finish(true, &format!("{case} (auto fragments)"));
        let r = server_report(&rx);
        check_server_report(&r, name, SIZES.len() * 3, &case);
    }

    // A server with both: a client offering both (same RSV1 bit) gets only
    // its first choice.
    let (addr, rx) = our_server(
        ServerConfig::new()
            .with_extension(DeflateFrame::new())
            .with_extension(PerMessageDeflate::new()),
        Echo::Whole,
        1,
    );
    let request = ClientRequest::new(&format!("ws://{addr}/"))
        .unwrap()
        .with_extension(PerMessageDeflate::new())
        .with_extension(DeflateFrame::new());
    let (stream, _) = Counted::new(TcpStream::connect(addr).unwrap());
    let (mut conn, response) = Connection::connect(stream, &request, Config::default()).unwrap();
    assert_eq!(conn.engine().extension_names(), ["permessage-deflate"]);
    assert_eq!(
        response.header("sec-websocket-extensions"),
        Some("permessage-deflate")
    );
    let message = Message::Text(text_payload(1 << 20));
    conn.send(message.clone()).unwrap();
    assert!(conn.recv().unwrap() == Some(message));
    assert_eq!(conn.close(1000, "").unwrap().0, 1000);
    let r = server_report(&rx);
    assert_eq!(r.names, ["permessage-deflate"]);
    assert_eq!(
        r.offer,
        "permessage-deflate; client_max_window_bits, deflate-frame"
    );
}
