//! permessage-deflate (RFC 7692).

use std::sync::Arc;

use super::deflate::{DeflatePool, PooledCompressor, PooledDecompressor, Side};
use super::params::{param_error, Params};
use super::{
    Extension, ExtensionFactory, ExtensionOffer, NegotiationError, Outgoing, TransformError, RSV1,
};
use crate::frame::{CloseCode, FrameHeader, Role};

const NAME: &str = "permessage-deflate";
const SERVER_NCT: &str = "server_no_context_takeover";
const CLIENT_NCT: &str = "client_no_context_takeover";
const SERVER_BITS: &str = "server_max_window_bits";
const CLIENT_BITS: &str = "client_max_window_bits";
const ALL: [&str; 4] = [SERVER_NCT, CLIENT_NCT, SERVER_BITS, CLIENT_BITS];

/// permessage-deflate (RFC 7692): negotiation policy and compression
/// options, for either role. Share one value (cheaply cloned) across all
/// connections of a server or client so that they share its [`DeflatePool`].
///
/// Parameters, as a client (what we offer) and as a server (our policy):
///
/// | field | client | server |
/// |---|---|---|
/// | `server_no_context_takeover` | ask the server not to keep context | never keep context for what we send |
/// | `client_no_context_takeover` | promise not to keep context | require the client not to keep context |
/// | `server_max_window_bits` | ask the server to use at most this window | use at most this window |
/// | `client_max_window_bits` | offered always (we support it); with a value, use at most this window | limit the client's window (offers without the parameter are declined) |
///
/// # Memory
///
/// With context takeover a side keeps its zlib state between messages:
/// a compressor costs several hundred KiB and a decompressor about 50 KiB,
/// each taken lazily on the first message in its direction. Without
/// context takeover on a side, that side's state is lent from the shared
/// pool for one message and returned, so idle connections hold none.
/// Measured server-side bytes per connection at 1,000 connections after
/// one 1 KiB message each way (`cargo run --release -p wsstack-bench --bin
/// deflate_memory`, 2026-11-23, a 2-core x86-64 Linux VM):
///
/// | policy | bytes per connection |
/// |---|---|
/// | no deflate | 3.4 KB |
/// | context takeover both ways, 15-bit windows | 576 KB |
/// | context takeover both ways, 10-bit windows | 365 KB |
/// | `with_server_no_context_takeover(true)` (keep only the decompressor) | 54 KB |
/// | no context takeover both ways (pooled) | 3.4 KB |
///
/// A server that must bound memory should set
/// `with_server_no_context_takeover(true)` (always allowed) and, if clients
/// support it, `with_client_no_context_takeover(true)`.
///
/// # Window bits 8
///
/// zlib cannot compress with an 8-bit window (it silently uses 9 bits,
/// whose back-references a peer limited to 8 bits could not follow). When
/// 8 bits are agreed for our side we send stored (uncompressed) DEFLATE
/// blocks, which are valid for any window; we inflate a peer's 8-bit stream
/// with a 9-bit window, which is a superset.
///
/// ```
/// use wsstack::extensions::PerMessageDeflate;
/// let pmd = PerMessageDeflate::new()
///     .with_level(6)
///     .with_threshold(64)
///     .with_server_no_context_takeover(true)
///     .with_client_max_window_bits(Some(12));
/// ```
#[derive(Clone, Debug)]
pub struct PerMessageDeflate {
    level: u32,
    threshold: usize,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
    pool: Arc<DeflatePool>,
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        PerMessageDeflate {
            level: 1,
            threshold: 0,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            pool: Arc::default(),
        }
    }
}

impl PerMessageDeflate {
    /// Compression level 1 (fastest), no threshold, context takeover both
    /// ways, 15-bit windows.
    pub fn new() -> PerMessageDeflate {
        PerMessageDeflate::default()
    }

    /// The zlib compression level, 0-9 (default 1).
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed
    /// (default 0: compress everything).
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// See the table on [`PerMessageDeflate`].
    pub fn with_server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// See the table on [`PerMessageDeflate`].
    pub fn with_client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// See the table on [`PerMessageDeflate`]; values are clamped to 8-15.
    pub fn with_server_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.server_max_window_bits = bits.map(|b| b.clamp(8, 15));
        self
    }

    /// See the table on [`PerMessageDeflate`]; values are clamped to 8-15.
    pub fn with_client_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.client_max_window_bits = bits.map(|b| b.clamp(8, 15));
        self
    }

    /// The pool shared by this factory's connections.
    pub fn pool(&self) -> &Arc<DeflatePool> {
        &self.pool
    }
}

/// The agreed parameters, from the response.
struct Agreed {
    server_nct: bool,
    client_nct: bool,
    server_bits: Option<u8>,
    client_bits: Option<u8>,
}

fn agreed(response: &ExtensionOffer) -> Result<Agreed, NegotiationError> {
    let p = Params::parse(response, &ALL)?;
    p.expect_flags(&[SERVER_NCT, CLIENT_NCT])?;
    p.require_value(SERVER_BITS)?;
    p.require_value(CLIENT_BITS)?;
    Ok(Agreed {
        server_nct: p.flag(SERVER_NCT),
        client_nct: p.flag(CLIENT_NCT),
        server_bits: p.number(SERVER_BITS, 8, 15)?,
        client_bits: p.number(CLIENT_BITS, 8, 15)?,
    })
}

impl ExtensionFactory for PerMessageDeflate {
    fn names(&self) -> &[&str] {
        &[NAME]
    }

    fn rsv_bits(&self) -> u8 {
        RSV1
    }

    fn offers(&self) -> Vec<ExtensionOffer> {
        let mut offer = ExtensionOffer::new(NAME);
        if self.server_no_context_takeover {
            offer = offer.with_param(SERVER_NCT, None);
        }
        if self.client_no_context_takeover {
            offer = offer.with_param(CLIENT_NCT, None);
        }
        if let Some(bits) = self.server_max_window_bits {
            offer = offer.with_param(SERVER_BITS, Some(bits.to_string()));
        }
        offer = offer.with_param(
            CLIENT_BITS,
            self.client_max_window_bits.map(|b| b.to_string()),
        );
        vec![offer]
    }

    fn check_response(&self, response: &ExtensionOffer) -> Result<(), NegotiationError> {
        let a = agreed(response)?;
        // RFC 7692 §7.1.1.1 / §7.1.2.1: what we asked of the server must be
        // granted, within what we asked.
        if self.server_no_context_takeover && !a.server_nct {
            return Err(param_error(
                NAME,
                SERVER_NCT,
                "was requested but not granted",
            ));
        }
        match (self.server_max_window_bits, a.server_bits) {
            (Some(_), None) => {
                return Err(param_error(
                    NAME,
                    SERVER_BITS,
                    "was requested but not granted",
                ))
            }
            (Some(asked), Some(got)) if got > asked => {
                return Err(param_error(
                    NAME,
                    SERVER_BITS,
                    &format!("{got} exceeds the {asked} requested"),
                ))
            }
            _ => {}
        }
        if let (Some(ours), Some(got)) = (self.client_max_window_bits, a.client_bits) {
            if got > ours {
                return Err(param_error(
                    NAME,
                    CLIENT_BITS,
                    &format!("{got} exceeds the {ours} offered"),
                ));
            }
        }
        Ok(())
    }

    fn accept_offer(&self, offer: &ExtensionOffer) -> Option<ExtensionOffer> {
        let p = Params::parse(offer, &ALL).ok()?;
        p.expect_flags(&[SERVER_NCT, CLIENT_NCT]).ok()?;
        p.require_value(SERVER_BITS).ok()?;
        let server_bits = match (
            p.number(SERVER_BITS, 8, 15).ok()?,
            self.server_max_window_bits,
        ) {
            (Some(asked), Some(ours)) => Some(asked.min(ours)),
            (asked, ours) => asked.or(ours),
        };
        let client_supports_bits = p.has(CLIENT_BITS);
        let client_offered = p.number(CLIENT_BITS, 8, 15).ok()?;
        let client_bits = match (self.client_max_window_bits, client_offered) {
            // We want to limit the client: only possible if it supports it.
            (Some(_), _) if !client_supports_bits => return None,
            (Some(ours), Some(theirs)) => Some(ours.min(theirs)),
            (Some(ours), None) => Some(ours),
            (None, theirs) => theirs,
        };
        let mut response = ExtensionOffer::new(NAME);
        if p.flag(SERVER_NCT) || self.server_no_context_takeover {
            response = response.with_param(SERVER_NCT, None);
        }
        if p.flag(CLIENT_NCT) || self.client_no_context_takeover {
            response = response.with_param(CLIENT_NCT, None);
        }
        if let Some(bits) = server_bits {
            response = response.with_param(SERVER_BITS, Some(bits.to_string()));
        }
        if let Some(bits) = client_bits {
            response = response.with_param(CLIENT_BITS, Some(bits.to_string()));
        }
        Some(response)
    }

    fn build(
        &self,
        role: Role,
        _offer: &ExtensionOffer,
        response: &ExtensionOffer,
    ) -> Box<dyn Extension> {
        let a = agreed(response).unwrap_or(Agreed {
            server_nct: true,
            client_nct: true,
            server_bits: None,
            client_bits: None,
        });
        let server = Side {
            no_context_takeover: a.server_nct,
            window_bits: a.server_bits.unwrap_or(15),
        };
        let client_bits = match (a.client_bits, self.client_max_window_bits) {
            (Some(got), Some(ours)) => got.min(ours),
            (got, ours) => got.or(ours).unwrap_or(15),
        };
        let client = Side {
            no_context_takeover: a.client_nct,
            window_bits: client_bits,
        };
        let (ours, theirs) = match role {
            Role::Server => (server, client),
            Role::Client => (client, server),
        };
        Box::new(PerMessageDeflateTransform {
            threshold: self.threshold,
            compressor: PooledCompressor::new(self.pool.clone(), self.level, ours),
            compressing: false,
            decompressor: PooledDecompressor::new(self.pool.clone(), theirs),
            decoding: false,
            received: 0,
        })
    }
}

/// The per-connection permessage-deflate transform.
struct PerMessageDeflateTransform {
    threshold: usize,
    /// Governed by our side's parameters.
    compressor: PooledCompressor,
    /// The outgoing message being sent is compressed.
    compressing: bool,
    /// Governed by the peer's side's parameters.
    decompressor: PooledDecompressor,
    /// The incoming message being received is compressed.
    decoding: bool,
    /// Compressed bytes received for the current incoming message.
    received: usize,
}

impl Extension for PerMessageDeflateTransform {
    fn name(&self) -> &str {
        NAME
    }

    fn shared_key(&self) -> Option<u64> {
        // Without context takeover every message starts a fresh stream, so
        // its bytes depend only on the level, window and threshold.
        let side = self.compressor.side();
        side.no_context_takeover.then(|| {
            0x7064_0000_0000_0000
                | (u64::from(self.compressor.level()) << 40)
                | (u64::from(side.window_bits) << 32)
                | (self.threshold.min(u32::MAX as usize) as u64)
        })
    }

    fn rsv_bits(&self) -> u8 {
        RSV1
    }

    fn encode(
        &mut self,
        payload: &[u8],
        frame: Outgoing,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, TransformError> {
        if frame.first {
            self.compressing =
                frame.transform && frame.message_len.is_none_or(|len| len >= self.threshold);
        }
        if !self.compressing {
            return Ok(None);
        }
        // §7.2.1: the last frame drops the 00 00 ff ff the flush ends with.
        let tail = self.compressor.compress(payload, out, frame.fin)?;
        if frame.fin {
            if !tail && out.is_empty() {
                // zlib emits nothing when there is nothing new to flush
                // (an empty message right after a flush). An empty payload
                // would make the receiver's appended tail unreadable, so
                // send the empty-message form of §7.2.3.6: one 0x00 byte.
                out.push(0x00);
            }
            self.compressing = false;
            self.compressor.end();
        }
        // §6: RSV1 marks the first frame of a compressed message only.
        Ok(Some(if frame.first { RSV1 } else { 0 }))
    }

    fn decode_start(&mut self, header: &FrameHeader, first: bool) -> Result<bool, TransformError> {
        if first {
            self.decoding = header.rsv1;
            self.received = 0;
        } else if header.rsv1 {
            return Err(TransformError::Invalid {
                reason: "RSV1 set on a continuation frame".into(),
                code: CloseCode::PROTOCOL_ERROR,
            });
        }
        Ok(self.decoding)
    }

    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        self.received += input.len();
        self.decompressor.inflate(input, out, limit)
    }

    fn decode_end(
        &mut self,
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        if !fin {
            return Ok(());
        }
        // §7.2.2: append the tail before inflating the end of the message.
        // A message with no compressed bytes at all (which some senders
        // produce for an empty message) is empty: the tail alone would not
        // parse.
        let result = if self.received == 0 {
            Ok(())
        } else {
            self.decompressor.finish(out, limit)
        };
        self.decoding = false;
        self.decompressor.end();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        let mut o = ExtensionOffer::new(NAME);
        for (k, v) in params {
            o = o.with_param(*k, v.map(str::to_owned));
        }
        o
    }

    #[test]
    fn client_offer_shapes() {
        let o = PerMessageDeflate::new().offers();
        assert_eq!(
            o[0].to_string(),
            "permessage-deflate; client_max_window_bits"
        );
        let o = PerMessageDeflate::new()
            .with_server_no_context_takeover(true)
            .with_client_no_context_takeover(true)
            .with_server_max_window_bits(Some(10))
            .with_client_max_window_bits(Some(9))
            .offers();
        assert_eq!(
            o[0].to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
        );
    }

    #[test]
    fn server_answers_offers_per_rfc_7692() {
        let server = PerMessageDeflate::new();
        // Chromium's offer.
        let r = server.accept_offer(&offer(&[(CLIENT_BITS, None)])).unwrap();
        assert_eq!(r.to_string(), "permessage-deflate");
        let r = server
            .accept_offer(&offer(&[
                (SERVER_BITS, Some("10")),
                (CLIENT_BITS, Some("12")),
                (CLIENT_NCT, None),
            ]))
            .unwrap();
        assert_eq!(
            r.to_string(),
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
        );
        // Our limits apply within what the client allows.
        let strict = PerMessageDeflate::new()
            .with_server_max_window_bits(Some(9))
            .with_client_max_window_bits(Some(11));
        let r = strict
            .accept_offer(&offer(&[(SERVER_BITS, Some("12")), (CLIENT_BITS, None)]))
            .unwrap();
        assert_eq!(
            r.to_string(),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=11"
        );
        // A client limit cannot be imposed on a client that does not support it.
        assert_eq!(strict.accept_offer(&offer(&[])), None);
        // Invalid offers are declined.
        for bad in [
            offer(&[("mystery", None)]),
            offer(&[(SERVER_BITS, Some("16"))]),
            offer(&[(SERVER_BITS, None)]),
            offer(&[(SERVER_NCT, None), (SERVER_NCT, None)]),
            offer(&[(SERVER_NCT, Some("1"))]),
        ] {
            assert_eq!(server.accept_offer(&bad), None, "{bad}");
        }
    }

    #[test]
    fn client_checks_the_response() {
        let client = PerMessageDeflate::new()
            .with_server_max_window_bits(Some(10))
            .with_server_no_context_takeover(true);
        let ok = offer(&[(SERVER_NCT, None), (SERVER_BITS, Some("9"))]);
        assert!(client.check_response(&ok).is_ok());
        let cases = [
            offer(&[(SERVER_BITS, Some("9"))]),
            offer(&[(SERVER_NCT, None)]),
            offer(&[(SERVER_NCT, None), (SERVER_BITS, Some("11"))]),
            offer(&[(SERVER_NCT, None), (SERVER_BITS, Some("7"))]),
            offer(&[
                (SERVER_NCT, None),
                (SERVER_BITS, Some("9")),
                (SERVER_BITS, Some("9")),
            ]),
            offer(&[(SERVER_NCT, None), (SERVER_BITS, Some("9")), ("x", None)]),
            offer(&[
                (SERVER_NCT, None),
                (SERVER_BITS, Some("9")),
                (CLIENT_BITS, None),
            ]),
        ];
        for bad in cases {
            assert!(
                matches!(
                    client.check_response(&bad),
                    Err(NegotiationError::Param { .. })
                ),
                "{bad}"
            );
        }
    }
}
