//! Extensions (RFC 6455 §9): negotiation kept apart from the
//! per-connection transform.
//!
//! - [`ExtensionFactory`] negotiates: the client's offers, the server's
//!   choice among offers, the client's check of the response. It is shared
//!   by every connection of a server or client.
//! - [`Extension`] is the per-connection transform the factory builds for
//!   the agreed parameters. It declares the RSV bits it uses; the engine
//!   refuses any RSV bit that no negotiated extension claims. Outgoing data
//!   frames go through the extensions in negotiation order, incoming ones in
//!   the reverse order.
//!
//! Built in (feature `deflate`): [`PerMessageDeflate`] (RFC 7692) and
//! [`DeflateFrame`] (draft-tyoshino-hybi-websocket-perframe-deflate-06).
//! `examples/custom_extension.rs` writes one from scratch.
//!
//! This layer uses only [`crate::frame`]: an extension author needs this
//! module (offers and their parameters, the two traits, the two error
//! types) and the frame header, nothing else. The handshake layer wraps
//! [`NegotiationError`] and the connection layer wraps [`TransformError`].

use std::fmt;
use std::sync::Arc;

use crate::frame::{FrameHeader, MessageKind, Role};

#[cfg(feature = "deflate")]
mod deflate;
#[cfg(feature = "deflate")]
mod deflate_frame;
mod error;
mod header;
mod params;
#[cfg(feature = "deflate")]
mod permessage_deflate;

#[cfg(feature = "deflate")]
pub use deflate::DeflatePool;
#[cfg(feature = "deflate")]
pub use deflate_frame::DeflateFrame;
pub use error::{NegotiationError, TransformError};
pub use header::{parse_extensions, ExtensionOffer};
pub use params::Params;
#[cfg(feature = "deflate")]
pub use permessage_deflate::PerMessageDeflate;

/// RSV1 as a bit in [`Extension::rsv_bits`].
pub const RSV1: u8 = 0b100;
/// RSV2 as a bit in [`Extension::rsv_bits`].
pub const RSV2: u8 = 0b010;
/// RSV3 as a bit in [`Extension::rsv_bits`].
pub const RSV3: u8 = 0b001;

/// What the engine tells an extension about an outgoing data frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Text or binary.
    pub kind: MessageKind,
    /// The first frame of its message.
    pub first: bool,
    /// The last frame of its message.
    pub fin: bool,
    /// The whole message's length, when the message is sent whole.
    pub message_len: Option<usize>,
    /// False when the application asked for this message to go out
    /// untransformed (e.g. already-compressed data).
    pub transform: bool,
}

/// A per-connection transform of data frames.
///
/// Control frames never pass through extensions.
pub trait Extension: Send {
    /// The negotiated name.
    fn name(&self) -> &str;

    /// The RSV bits this extension uses ([`RSV1`], [`RSV2`], [`RSV3`]).
    fn rsv_bits(&self) -> u8;

    /// Transform an outgoing data frame's payload. Return `Ok(None)` to
    /// leave it as it is, or write the new payload to `out` and return the
    /// RSV bits to set on the frame.
    fn encode(
        &mut self,
        payload: &[u8],
        frame: Outgoing,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, TransformError>;

    /// An incoming data frame starts (`first`: it starts a message). Check
    /// its RSV bits and say whether this extension transforms its payload.
    fn decode_start(&mut self, header: &FrameHeader, first: bool) -> Result<bool, TransformError>;

    /// Transform payload bytes of a frame for which `decode_start` returned
    /// true, appending at most `limit` bytes to `out` (more is
    /// [`TransformError::TooLarge`]).
    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError>;

    /// The frame's payload is complete (`fin`: so is its message). Append
    /// any remaining output, within `limit`.
    fn decode_end(
        &mut self,
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError>;

    /// A key for this transform's encoding of whole messages, when that
    /// encoding depends on nothing but the message and this key (no state
    /// carried from one message to the next): two transforms with the
    /// same key must produce the same bytes for the same message. It lets
    /// a broadcast encode (compress) a message once for many connections
    /// ([`PreparedMessage`](crate::connection::PreparedMessage)). `None`,
    /// the default, means every connection encodes its own copy.
    fn shared_key(&self) -> Option<u64> {
        None
    }
}

/// Negotiates an extension and builds its per-connection transforms.
pub trait ExtensionFactory: Send + Sync + fmt::Debug {
    /// The names this extension answers to; the first is offered.
    fn names(&self) -> &[&str];

    /// The RSV bits its transforms use.
    fn rsv_bits(&self) -> u8;

    /// Client side: the offers to send, in order of preference.
    fn offers(&self) -> Vec<ExtensionOffer>;

    /// Client side: check the server's response (its name is one of
    /// [`names`](ExtensionFactory::names)). A parameter that was not
    /// allowed, a duplicate or an out-of-range value is an error.
    fn check_response(&self, response: &ExtensionOffer) -> Result<(), NegotiationError>;

    /// Server side: answer one offer with the response parameters, or
    /// `None` to decline it.
    fn accept_offer(&self, offer: &ExtensionOffer) -> Option<ExtensionOffer>;

    /// Build the transform for an agreement: the client's `offer` that the
    /// server accepted and the server's `response` to it.
    fn build(
        &self,
        role: Role,
        offer: &ExtensionOffer,
        response: &ExtensionOffer,
    ) -> Box<dyn Extension>;
}

/// A shared factory.
pub type SharedFactory = Arc<dyn ExtensionFactory>;

fn find<'a>(factories: &'a [SharedFactory], name: &str) -> Option<&'a SharedFactory> {
    factories
        .iter()
        .find(|f| f.names().iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// An accepted offer and the server's response to it.
pub type Agreement = (ExtensionOffer, ExtensionOffer);

/// Server side: walk the client's offers in order and accept, per
/// extension, the first offer its factory agrees to, skipping extensions
/// whose RSV bits are already taken. Returns (offer, response) pairs in
/// negotiation order.
pub fn negotiate_server(factories: &[SharedFactory], offers: &[ExtensionOffer]) -> Vec<Agreement> {
    let mut accepted: Vec<Agreement> = Vec::new();
    let mut bits = 0u8;
    for offer in offers {
        let Some(factory) = find(factories, &offer.name) else {
            continue;
        };
        let taken = accepted
            .iter()
            .any(|(_, a)| find(factories, &a.name).is_some_and(|f| Arc::ptr_eq(f, factory)));
        if taken || factory.rsv_bits() & bits != 0 {
            continue;
        }
        if let Some(response) = factory.accept_offer(offer) {
            bits |= factory.rsv_bits();
            accepted.push((offer.clone(), response));
        }
    }
    accepted
}

/// Client side: the offers of every factory, in order.
pub fn client_offers(factories: &[SharedFactory]) -> Vec<ExtensionOffer> {
    factories.iter().flat_map(|f| f.offers()).collect()
}

/// Client side: check the server's accepted extensions against what we
/// offered: each must be one we offered, at most once, with parameters its
/// factory accepts, and no two may use the same RSV bit.
pub fn check_server_response(
    factories: &[SharedFactory],
    accepted: &[ExtensionOffer],
) -> Result<(), NegotiationError> {
    let mut bits = 0u8;
    for (i, ext) in accepted.iter().enumerate() {
        let factory = find(factories, &ext.name)
            .ok_or_else(|| NegotiationError::Unoffered(ext.name.clone()))?;
        let dup = accepted[..i]
            .iter()
            .any(|e| find(factories, &e.name).is_some_and(|f| Arc::ptr_eq(f, factory)));
        if dup || factory.rsv_bits() & bits != 0 {
            return Err(NegotiationError::Duplicate(ext.name.clone()));
        }
        bits |= factory.rsv_bits();
        factory.check_response(ext)?;
    }
    Ok(())
}

/// Server side: build the transforms for the agreements, in order.
pub fn build_server(factories: &[SharedFactory], agreed: &[Agreement]) -> Vec<Box<dyn Extension>> {
    agreed
        .iter()
        .filter_map(|(o, r)| find(factories, &r.name).map(|f| f.build(Role::Server, o, r)))
        .collect()
}

/// Client side: build the transforms for the server's accepted extensions
/// (already checked by [`check_server_response`]), in order.
pub fn build_client(
    factories: &[SharedFactory],
    accepted: &[ExtensionOffer],
) -> Vec<Box<dyn Extension>> {
    accepted
        .iter()
        .filter_map(|r| {
            let f = find(factories, &r.name)?;
            let offers = f.offers();
            let offer = offers
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&r.name))
                .or(offers.first())
                .cloned()
                .unwrap_or_else(|| ExtensionOffer::new(r.name.clone()));
            Some(f.build(Role::Client, &offer, r))
        })
        .collect()
}
