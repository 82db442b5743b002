//! An accepted handshake becomes an [`Engine`] with its negotiated
//! extensions.

use crate::config::ConfigError;
use crate::connection::{Config, Engine};
use crate::extensions::Agreement;
use crate::handshake::{ClientRequest, Negotiated, ServerConfig};

/// The server-role engine for a handshake `handshake` accepted with the
/// extension agreements `agreed` (from
/// [`Accepted::extensions`](crate::handshake::Accepted::extensions)),
/// installed in negotiation order.
pub fn server_engine(
    config: Config,
    handshake: &ServerConfig,
    agreed: &[Agreement],
) -> Result<Engine, ConfigError> {
    Engine::server(config)?.with_extensions(handshake.build_extensions(agreed))
}

/// The client-role engine for a request whose response negotiated
/// `negotiated`, with the agreed extensions installed.
pub fn client_engine(
    config: Config,
    request: &ClientRequest,
    negotiated: &Negotiated,
) -> Result<Engine, ConfigError> {
    Engine::client(config)?.with_extensions(request.build_extensions(negotiated))
}
