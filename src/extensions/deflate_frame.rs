//! deflate-frame (draft-tyoshino-hybi-websocket-perframe-deflate-06), also
//! known as `x-webkit-deflate-frame`.

use std::sync::Arc;

use super::deflate::{DeflatePool, PooledCompressor, PooledDecompressor, Side};
use super::params::Params;
use super::{
    Extension, ExtensionFactory, ExtensionOffer, NegotiationError, Outgoing, TransformError, RSV1,
};
use crate::frame::{FrameHeader, Role};

const NAMES: [&str; 2] = ["deflate-frame", "x-webkit-deflate-frame"];
const BITS: &str = "max_window_bits";
const NCT: &str = "no_context_takeover";

/// The per-frame deflate extension: every data frame with RSV1 set carries
/// its own sync-flushed DEFLATE data. Parameters in the client's offer
/// restrict the server's compressor; parameters in the server's response
/// restrict the client's.
///
/// ```
/// use wsstack::extensions::DeflateFrame;
/// // Offer the name WebKit used, and ask the peer for a 10-bit window.
/// let df = DeflateFrame::new().with_webkit_name(true).with_max_window_bits(Some(10));
/// ```
#[derive(Clone, Debug)]
pub struct DeflateFrame {
    level: u32,
    webkit_name: bool,
    /// What we ask of the peer's compressor.
    max_window_bits: Option<u8>,
    no_context_takeover: bool,
    pool: Arc<DeflatePool>,
}

impl Default for DeflateFrame {
    fn default() -> Self {
        DeflateFrame {
            level: 1,
            webkit_name: false,
            max_window_bits: None,
            no_context_takeover: false,
            pool: Arc::default(),
        }
    }
}

impl DeflateFrame {
    /// Level 1, 15-bit windows, context takeover.
    pub fn new() -> DeflateFrame {
        DeflateFrame::default()
    }

    /// The zlib compression level, 0-9.
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Offer `x-webkit-deflate-frame` instead of `deflate-frame` (a server
    /// accepts both either way).
    pub fn with_webkit_name(mut self, on: bool) -> Self {
        self.webkit_name = on;
        self
    }

    /// Ask the peer to compress with at most this window (8-15).
    pub fn with_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.max_window_bits = bits.map(|b| b.clamp(8, 15));
        self
    }

    /// Ask the peer not to keep context between frames.
    pub fn with_no_context_takeover(mut self, on: bool) -> Self {
        self.no_context_takeover = on;
        self
    }

    fn ask(&self, name: &str) -> ExtensionOffer {
        let mut o = ExtensionOffer::new(name);
        if let Some(bits) = self.max_window_bits {
            o = o.with_param(BITS, Some(bits.to_string()));
        }
        if self.no_context_takeover {
            o = o.with_param(NCT, None);
        }
        o
    }
}

fn side(p: &ExtensionOffer) -> Result<Side, NegotiationError> {
    let params = Params::parse(p, &[BITS, NCT])?;
    params.expect_flags(&[NCT])?;
    params.require_value(BITS)?;
    Ok(Side {
        window_bits: params.number(BITS, 8, 15)?.unwrap_or(15),
        no_context_takeover: params.flag(NCT),
    })
}

/// What a peer that sent unusable parameters gets: the most conservative
/// side.
const FALLBACK: Side = Side {
    window_bits: 15,
    no_context_takeover: true,
};

impl ExtensionFactory for DeflateFrame {
    fn names(&self) -> &[&str] {
        if self.webkit_name {
            &[NAMES[1], NAMES[0]]
        } else {
            &NAMES
        }
    }

    fn rsv_bits(&self) -> u8 {
        RSV1
    }

    fn offers(&self) -> Vec<ExtensionOffer> {
        vec![self.ask(self.names()[0])]
    }

    fn check_response(&self, response: &ExtensionOffer) -> Result<(), NegotiationError> {
        side(response).map(|_| ())
    }

    fn accept_offer(&self, offer: &ExtensionOffer) -> Option<ExtensionOffer> {
        side(offer).ok()?;
        Some(self.ask(&offer.name))
    }

    fn build(
        &self,
        role: Role,
        offer: &ExtensionOffer,
        response: &ExtensionOffer,
    ) -> Box<dyn Extension> {
        // The offer's parameters bind the server's compressor, the
        // response's the client's.
        let server_side = side(offer).unwrap_or(FALLBACK);
        let client_side = side(response).unwrap_or(FALLBACK);
        let (ours, theirs) = match role {
            Role::Client => (client_side, server_side),
            Role::Server => (server_side, client_side),
        };
        Box::new(DeflateFrameTransform {
            name: response.name.clone(),
            compressor: PooledCompressor::new(self.pool.clone(), self.level, ours),
            decompressor: PooledDecompressor::new(self.pool.clone(), theirs),
        })
    }
}

/// The per-connection deflate-frame transform: every frame is its own
/// sync-flushed unit.
struct DeflateFrameTransform {
    name: String,
    compressor: PooledCompressor,
    decompressor: PooledDecompressor,
}

impl Extension for DeflateFrameTransform {
    fn name(&self) -> &str {
        &self.name
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
        if !frame.transform || payload.is_empty() {
            return Ok(None);
        }
        self.compressor.compress(payload, out, true)?;
        self.compressor.end();
        Ok(Some(RSV1))
    }

    fn decode_start(&mut self, header: &FrameHeader, _first: bool) -> Result<bool, TransformError> {
        Ok(header.rsv1)
    }

    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        self.decompressor.inflate(input, out, limit)
    }

    fn decode_end(
        &mut self,
        _fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        let result = self.decompressor.finish(out, limit);
        self.decompressor.end();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_under_both_names() {
        let server = DeflateFrame::new();
        for name in NAMES {
            let r = server.accept_offer(&ExtensionOffer::new(name)).unwrap();
            assert_eq!(r.name, name);
        }
        let bad = ExtensionOffer::new("deflate-frame").with_param(BITS, Some("20".into()));
        assert_eq!(server.accept_offer(&bad), None);
        let client = DeflateFrame::new()
            .with_webkit_name(true)
            .with_no_context_takeover(true);
        assert_eq!(
            client.offers()[0].to_string(),
            "x-webkit-deflate-frame; no_context_takeover"
        );
        assert!(client
            .check_response(
                &ExtensionOffer::new("x-webkit-deflate-frame").with_param(BITS, Some("9".into()))
            )
            .is_ok());
        assert!(client
            .check_response(&ExtensionOffer::new("x-webkit-deflate-frame").with_param("x", None))
            .is_err());
    }
}
