//! `wsstack serve`: settings to a running server whose handler is the
//! chain of filters.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use wsstack::handshake::{Rejection, Request, ServerConfig};
use wsstack::server::{Backpressure, Client, Handler, Hub, Server, ServerBuilder};
use wsstack::{CloseCode, Limits, Message};

use crate::args::ServeArgs;
use crate::config::Settings;
use crate::filter::{Cx, Filter, FilterRegistry, Flow, Node, Session};
use crate::http::Routes;
use crate::metrics::Metrics;
use crate::redis_broker::RedisBroker;

/// The filters as one [`Handler`]: each event runs them in order (see
/// [`Filter`]).
pub struct Chain {
    filters: Vec<Box<dyn Filter>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("filters", &self.filters.len())
            .finish()
    }
}

impl Chain {
    /// A chain of `filters` counting into `metrics`.
    pub fn new(filters: Vec<Box<dyn Filter>>, metrics: Arc<Metrics>) -> Chain {
        Chain { filters, metrics }
    }

    /// Carry out a flow that ended the chain.
    fn finish<T>(cx: &Cx<'_>, flow: Flow<T>) {
        match flow {
            Flow::Reply(message) => {
                cx.send(message);
            }
            Flow::Close(code, reason) => cx.client().close(code, &reason),
            Flow::Pass(_) | Flow::Stop => {}
        }
    }
}

impl Handler for Chain {
    type Data = Session;

    fn on_handshake(&self, request: &Request) -> Result<Session, Rejection> {
        Ok(Session::from_request(request))
    }

    fn on_open(&self, client: &Client<Session>) {
        log::info!("{client} connected ({})", client.request().target());
        let cx = Cx::new(client, &self.metrics);
        for filter in &self.filters {
            match filter.on_connect(&cx) {
                Flow::Pass(()) => {}
                other => return Chain::finish(&cx, other),
            }
        }
    }

    fn on_message(&self, client: &Client<Session>, message: Message) {
        self.metrics.received(message.len());
        let cx = Cx::new(client, &self.metrics);
        let text = message.as_text().is_some();
        let mut data = message.into_bytes();
        for filter in &self.filters {
            match filter.on_rawdata(&cx, data) {
                Flow::Pass(changed) => data = changed,
                other => return Chain::finish(&cx, other),
            }
        }
        let mut message = match (text, String::from_utf8(data)) {
            (true, Ok(text)) => Message::Text(text),
            (_, Ok(text)) => Message::Binary(text.into_bytes()),
            (_, Err(e)) => Message::Binary(e.into_bytes()),
        };
        for filter in &self.filters {
            match filter.on_message(&cx, message) {
                Flow::Pass(changed) => message = changed,
                other => return Chain::finish(&cx, other),
            }
        }
    }

    fn on_close(&self, client: &Client<Session>, code: CloseCode, reason: &str) {
        log::info!("{client} disconnected: {code} {reason:?}");
        let cx = Cx::new(client, &self.metrics);
        for filter in &self.filters {
            if !matches!(filter.on_disconnect(&cx, code, reason), Flow::Pass(())) {
                break;
            }
        }
    }
}

/// Set up logging: `level` if given, else `RUST_LOG`, else `default`.
pub(crate) fn init_logging(level: Option<&str>, default: &str) {
    let mut builder = match level {
        Some(level) => {
            let mut b = env_logger::Builder::new();
            b.parse_filters(level);
            b
        }
        None => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        }
    };
    let _ = builder.try_init();
}

/// A server ready to run: bound, its filters started.
struct Ready {
    server: Server,
    chain: Chain,
    scheme: &'static str,
}

/// `Err((status, message))`: 2 for settings that cannot work, 1 for a
/// failure to start.
fn prepare(settings: &Settings, registry: &FilterRegistry) -> Result<Ready, (u8, String)> {
    let usage = |e: String| (2, e);
    let mut limits = Limits::default();
    for (name, value, slot) in [
        (
            "max-message",
            settings.max_message,
            &mut limits.max_message_size,
        ),
        ("max-frame", settings.max_frame, &mut limits.max_frame_size),
    ] {
        if let Some(n) = value {
            if n < 125 {
                return Err((
                    2,
                    format!(
                        "{name} must be at least 125 bytes (the largest control frame), not {n}"
                    ),
                ));
            }
            *slot = n;
        }
    }
    limits.validate().map_err(|e| (2, format!("limits: {e}")))?;
    let filters = settings
        .filters
        .iter()
        .map(|name| registry.build(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (2, format!("{}: {e}", settings.filters_source)))?;
    let metrics = Arc::new(Metrics::default());
    let hub: Hub<Session> = Hub::new();
    let redis = match &settings.redis {
        Some(url) => {
            let broker = Arc::new(RedisBroker::new(url, &settings.redis_prefix).map_err(usage)?);
            let counters = metrics.clone();
            broker
                .on_delivery(move |message, delivery| counters.delivered(&delivery, message.len()));
            hub.set_broker(broker.clone());
            log::info!(
                "joining the nodes on Redis {} as node {}",
                broker.url(),
                broker.node_id()
            );
            Some(broker)
        }
        None => None,
    };
    if !settings.channels.is_empty() && !settings.filters.iter().any(|f| f == "broadcast_pubsub") {
        log::warn!(
            "--channel is only used by the filter broadcast_pubsub, which is not in the chain"
        );
    }
    let node = Node {
        hub: &hub,
        redis: redis.as_ref(),
        channels: &settings.channels,
        metrics: &metrics,
    };
    for (name, filter) in settings.filters.iter().zip(&filters) {
        filter
            .start(&node)
            .map_err(|e| (2, format!("filter {name}: {e}")))?;
    }

    let routes = Routes {
        handle: Arc::new(OnceLock::new()),
        metrics: metrics.clone(),
        redis,
    };
    let handle_slot = routes.handle.clone();
    let handshake = ServerConfig::new().with_http_handler(move |req| routes.answer(req));
    let mut builder = ServerBuilder::new()
        .address(settings.addr.clone())
        .handshake(handshake)
        .limits(limits)
        .hub(hub)
        .backpressure(Backpressure::Drop)
        .permessage_deflate(settings.deflate)
        .stop_on_signals(true);
    if let Some(n) = settings.max_connections {
        builder = builder.max_connections(n);
    }
    let scheme = match &settings.tls {
        Some((cert, key)) => {
            let tls = wsstack::tls::TlsServerConfig::from_pem_files(cert, key)
                .map_err(|e| (1, format!("--cert {cert} --key {key}: {e}")))?;
            builder = builder.tls(tls);
            "wss"
        }
        None => "ws",
    };
    let server = builder
        .bind(settings.server)
        .map_err(|e| (1, e.to_string()))?;
    let _ = handle_slot.set(server.handle());
    Ok(Ready {
        server,
        chain: Chain::new(filters, metrics),
        scheme,
    })
}

/// Run `wsstack serve`; the exit status: 0 after a shutdown (Ctrl-C,
/// SIGTERM), 1 when the server cannot start or fails, 2 for settings that
/// cannot work (config file, filters, flags).
pub fn serve(args: ServeArgs, registry: &FilterRegistry) -> ExitCode {
    let settings = match Settings::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsstack serve: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_level.as_deref(), "info");
    let ready = match prepare(&settings, registry) {
        Ok(ready) => ready,
        Err((status, e)) => {
            eprintln!("wsstack serve: {e}");
            return ExitCode::from(status);
        }
    };
    let addr = match ready.server.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("wsstack serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let http = if ready.scheme == "wss" {
        "https"
    } else {
        "http"
    };
    println!(
        "wsstack serve: listening on {}://{addr}/ ({} server; filters: {}); chat page: {http}://{addr}/",
        ready.scheme,
        settings.server,
        settings.filters.join(", ")
    );
    if let Err(e) = ready.server.run(ready.chain) {
        eprintln!("wsstack serve: {e}");
        return ExitCode::FAILURE;
    }
    log::info!("stopped");
    ExitCode::SUCCESS
}
