//! `Engine::send_owned`: the bytes on the wire (what `poll_transmit`
//! gives, then the payload handed back) are exactly those of `send`, in
//! both roles, for every size around the copy threshold and the
//! length-encoding boundaries, with fragmentation and with
//! permessage-deflate (where the payload is never handed back), and
//! control frames queued before keep their place.

use wsstack::connection::{Config, Engine, Event, UsageError};
use wsstack::frame::FixedMask;
use wsstack::{Message, Role};

const KEY: [u8; 4] = [0x5a, 0x01, 0xc3, 0x7e];

fn engine(role: Role, config: Config) -> Engine {
    let mut e = match role {
        Role::Server => Engine::server(config),
        Role::Client => Engine::client(config),
    }
    .unwrap();
    e.set_mask_source(Box::new(FixedMask(KEY)));
    e
}

fn message(size: usize, text: bool) -> Message {
    if text {
        Message::Text("é".repeat(size / 2) + &"a".repeat(size % 2))
    } else {
        Message::Binary((0..size).map(|i| (i * 31 % 251) as u8).collect())
    }
}

/// The wire bytes of `send_owned` and whether the payload came back.
fn owned_wire(e: &mut Engine, m: Message) -> (Vec<u8>, bool) {
    let payload = e.send_owned(m).unwrap();
    let mut wire = Vec::new();
    e.poll_transmit(&mut wire);
    let handed_back = payload.is_some();
    wire.extend_from_slice(&payload.unwrap_or_default());
    (wire, handed_back)
}

fn copied_wire(e: &mut Engine, m: &Message) -> Vec<u8> {
    e.send(m).unwrap();
    let mut wire = Vec::new();
    e.poll_transmit(&mut wire);
    wire
}

#[test]
fn same_bytes_as_send_in_both_roles() {
    let sizes = [0, 1, 125, 126, 4095, 4096, 4097, 65535, 65536, 70_000];
    for role in [Role::Server, Role::Client] {
        for &size in &sizes {
            for text in [false, true] {
                let m = message(size, text);
                let (owned, handed_back) =
                    owned_wire(&mut engine(role, Config::default()), m.clone());
                let copied = copied_wire(&mut engine(role, Config::default()), &m);
                assert_eq!(owned, copied, "{role:?} {size} text={text}");
                assert_eq!(handed_back, m.len() >= 4096, "{role:?} {size}");
                // And the peer reads the message back.
                let mut peer = engine(
                    if role == Role::Server {
                        Role::Client
                    } else {
                        Role::Server
                    },
                    Config::default(),
                );
                peer.receive(&owned);
                match peer.poll_event().unwrap() {
                    Some(Event::Message(got)) => assert_eq!(got, m),
                    other => panic!("{role:?} {size}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn fragmented_messages_are_copied() {
    let config = Config {
        fragment_size: Some(8192),
        ..Config::default()
    };
    let m = message(20_000, false);
    let (owned, handed_back) = owned_wire(&mut engine(Role::Server, config), m.clone());
    assert!(!handed_back);
    assert_eq!(owned, copied_wire(&mut engine(Role::Server, config), &m));
    // A message that fits one fragment still goes without a copy.
    let small = message(8000, false);
    let (_, handed_back) = owned_wire(&mut engine(Role::Server, config), small);
    assert!(handed_back);
}

#[cfg(feature = "deflate")]
#[test]
fn compressed_messages_are_copied() {
    use wsstack::extensions::{ExtensionFactory, PerMessageDeflate};
    let pmd = PerMessageDeflate::new();
    let offer = pmd.offers().remove(0);
    let response = pmd.accept_offer(&offer).unwrap();
    let agreed = pmd.build(Role::Server, &offer, &response);
    let mut server = Engine::server(Config::default())
        .unwrap()
        .with_extensions(vec![agreed])
        .unwrap();
    let m = message(50_000, true);
    assert_eq!(server.send_owned(m).unwrap(), None);
    let mut wire = Vec::new();
    server.poll_transmit(&mut wire);
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1: compressed");
    assert!(wire.len() < 50_000);
}

#[test]
fn control_frames_queued_first_keep_their_place() {
    let mut server = engine(Role::Server, Config::default());
    server.ping(b"p").unwrap();
    let (wire, handed_back) = owned_wire(&mut server, message(10_000, false));
    assert!(handed_back);
    assert_eq!(&wire[..3], &[0x89, 0x01, b'p']);
    assert_eq!(&wire[3..5], &[0x82, 126]);
}

#[test]
fn refused_like_send() {
    let mut server = engine(Role::Server, Config::default());
    server
        .send_fragment(wsstack::connection::MessageKind::Text, b"a", false)
        .unwrap();
    assert_eq!(
        server.send_owned(message(10_000, false)),
        Err(UsageError::MessageInProgress)
    );
    let mut server = engine(Role::Server, Config::default());
    server.close(1000, "").unwrap();
    assert_eq!(
        server.send_owned(message(10_000, false)),
        Err(UsageError::Closed)
    );
}
