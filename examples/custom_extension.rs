//! Writing an extension against the public traits: `x-xor` flips every
//! payload byte with a key agreed in the handshake and marks transformed
//! frames with RSV2. A server and a client negotiate it on a free port and
//! exchange a few messages; the raw bytes on the wire are shown to prove
//! the transform ran.
//!
//! ```text
//! cargo run --example custom_extension
//! ```

use std::net::{TcpListener, TcpStream};
use std::thread;

use wsstack::connection::Config;
use wsstack::extensions::{Extension, ExtensionFactory, Outgoing, Params, RSV2};
use wsstack::extensions::{ExtensionOffer, NegotiationError, TransformError};
use wsstack::frame::{FrameHeader, Role};
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::{Connection, Message};

const NAME: &str = "x-xor";

/// Negotiation: the client offers `x-xor; key=N`; the server accepts any
/// key in 1..=255 and echoes it.
#[derive(Debug)]
struct XorFactory {
    key: u8,
}

impl ExtensionFactory for XorFactory {
    fn names(&self) -> &[&str] {
        &[NAME]
    }

    fn rsv_bits(&self) -> u8 {
        RSV2
    }

    fn offers(&self) -> Vec<ExtensionOffer> {
        vec![ExtensionOffer::new(NAME).with_param("key", Some(self.key.to_string()))]
    }

    fn check_response(&self, response: &ExtensionOffer) -> Result<(), NegotiationError> {
        Params::parse(response, &["key"])?
            .number("key", 1, 255)
            .map(|_| ())
    }

    fn accept_offer(&self, offer: &ExtensionOffer) -> Option<ExtensionOffer> {
        let key = Params::parse(offer, &["key"])
            .ok()?
            .number("key", 1, 255)
            .ok()??;
        Some(ExtensionOffer::new(NAME).with_param("key", Some(key.to_string())))
    }

    fn build(
        &self,
        _role: Role,
        _offer: &ExtensionOffer,
        response: &ExtensionOffer,
    ) -> Box<dyn Extension> {
        let key = Params::parse(response, &["key"])
            .ok()
            .and_then(|p| p.number("key", 1, 255).ok().flatten())
            .unwrap_or(1);
        Box::new(Xor { key })
    }
}

/// The per-connection transform.
struct Xor {
    key: u8,
}

impl Extension for Xor {
    fn name(&self) -> &str {
        NAME
    }

    fn rsv_bits(&self) -> u8 {
        RSV2
    }

    fn encode(
        &mut self,
        payload: &[u8],
        frame: Outgoing,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, TransformError> {
        if !frame.transform {
            return Ok(None);
        }
        out.extend(payload.iter().map(|b| b ^ self.key));
        Ok(Some(RSV2))
    }

    fn decode_start(&mut self, header: &FrameHeader, _first: bool) -> Result<bool, TransformError> {
        Ok(header.rsv2)
    }

    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        if input.len() > limit {
            return Err(TransformError::TooLarge { max: limit });
        }
        out.extend(input.iter().map(|b| b ^ self.key));
        Ok(())
    }

    fn decode_end(
        &mut self,
        _fin: bool,
        _out: &mut Vec<u8>,
        _limit: usize,
    ) -> Result<(), TransformError> {
        Ok(())
    }
}

/// Records every byte the client receives, to show the wire format.
struct Tap {
    inner: TcpStream,
    seen: Vec<u8>,
}

impl std::io::Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl std::io::Write for Tap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let server = thread::spawn(move || -> Result<(), wsstack::Error> {
        let (tcp, _) = listener.accept()?;
        let config = ServerConfig::new().with_extension(XorFactory { key: 1 });
        let (mut conn, _) = Connection::accept(tcp, &config, Config::default())?;
        println!("server negotiated {:?}", conn.engine().extension_names());
        while let Some(message) = conn.recv()? {
            conn.send(message)?;
        }
        Ok(())
    });

    let request = ClientRequest::new(&url)?.with_extension(XorFactory { key: 0x20 });
    let tap = Tap {
        inner: TcpStream::connect(request.address())?,
        seen: Vec::new(),
    };
    let (mut conn, response) = Connection::connect(tap, &request, Config::default())?;
    println!(
        "response: {:?}",
        response.header("sec-websocket-extensions")
    );
    for text in ["hello", "XOR me"] {
        conn.get_mut().seen.clear();
        conn.send(text)?;
        let echo = conn.recv()?.ok_or("closed early")?;
        let wire = &conn.get_ref().seen;
        println!("sent {text:?}, wire bytes {wire:02x?}, echo {echo:?}");
        assert_eq!(echo, Message::Text(text.into()));
        assert_eq!(wire[0] & 0x20, 0x20, "RSV2 marks the transformed frame");
        assert_ne!(
            &wire[2..],
            text.as_bytes(),
            "the payload on the wire is transformed"
        );
    }
    conn.close(1000, "done")?;
    server.join().expect("server thread")?;
    println!("custom extension ok");
    Ok(())
}
