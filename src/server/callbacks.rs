//! [`Callbacks`]: a [`Handler`] made of closures, several per event, run in
//! the order they were added.

use std::fmt;

use super::{Client, Handler};
use crate::connection::Message;
use crate::frame::CloseCode;

type OnConnect<D> = Box<dyn Fn(&Client<D>) + Send + Sync>;
type OnMessage<D> = Box<dyn Fn(&Client<D>, &Message) + Send + Sync>;
type OnDisconnect<D> = Box<dyn Fn(&Client<D>, CloseCode, &str) + Send + Sync>;

/// A handler built from closures instead of a `Handler` impl: any number
/// of connect, message and disconnect callbacks, each list called in the
/// order the callbacks were added.
///
/// ```no_run
/// use wsstack::server::{Callbacks, ServerBuilder};
///
/// // Per-client data: a message counter.
/// let polite = Callbacks::<u32>::new()
///     .on_connect(|client| {
///         let _ = client.send("Hello!");
///     })
///     .on_message(|client, message| {
///         let _ = client.send(message.clone());
///         *client.data() += 1;
///         if *client.data() >= 3 {
///             let _ = client.send("Enough! Go bother someone else!");
///             client.close(1000, "enough");
///         }
///     });
/// ServerBuilder::new().address("127.0.0.1:9001").bind_threaded()?.run(polite)?;
/// # Ok::<(), wsstack::Error>(())
/// ```
pub struct Callbacks<D = ()> {
    connect: Vec<OnConnect<D>>,
    message: Vec<OnMessage<D>>,
    disconnect: Vec<OnDisconnect<D>>,
}

impl<D> Default for Callbacks<D> {
    fn default() -> Self {
        Callbacks {
            connect: Vec::new(),
            message: Vec::new(),
            disconnect: Vec::new(),
        }
    }
}

impl<D> fmt::Debug for Callbacks<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("connect", &self.connect.len())
            .field("message", &self.message.len())
            .field("disconnect", &self.disconnect.len())
            .finish()
    }
}

impl<D> Callbacks<D> {
    /// No callbacks yet.
    pub fn new() -> Callbacks<D> {
        Callbacks::default()
    }

    /// Add a callback run when a client connects (after its handshake).
    pub fn on_connect(mut self, f: impl Fn(&Client<D>) + Send + Sync + 'static) -> Self {
        self.add_connect_callback(f);
        self
    }

    /// Add a callback run for every whole message.
    pub fn on_message(mut self, f: impl Fn(&Client<D>, &Message) + Send + Sync + 'static) -> Self {
        self.add_message_callback(f);
        self
    }

    /// Add a callback run when a client is gone, with the close code and
    /// reason (1006 when the transport dropped).
    pub fn on_disconnect(
        mut self,
        f: impl Fn(&Client<D>, CloseCode, &str) + Send + Sync + 'static,
    ) -> Self {
        self.add_disconnect_callback(f);
        self
    }

    /// [`on_connect`](Callbacks::on_connect) on a `&mut`.
    pub fn add_connect_callback(&mut self, f: impl Fn(&Client<D>) + Send + Sync + 'static) {
        self.connect.push(Box::new(f));
    }

    /// [`on_message`](Callbacks::on_message) on a `&mut`.
    pub fn add_message_callback(
        &mut self,
        f: impl Fn(&Client<D>, &Message) + Send + Sync + 'static,
    ) {
        self.message.push(Box::new(f));
    }

    /// [`on_disconnect`](Callbacks::on_disconnect) on a `&mut`.
    pub fn add_disconnect_callback(
        &mut self,
        f: impl Fn(&Client<D>, CloseCode, &str) + Send + Sync + 'static,
    ) {
        self.disconnect.push(Box::new(f));
    }
}

impl<D: Default + Send + 'static> Handler for Callbacks<D> {
    type Data = D;

    fn on_open(&self, client: &Client<D>) {
        for f in &self.connect {
            f(client);
        }
    }

    fn on_message(&self, client: &Client<D>, message: Message) {
        for f in &self.message {
            f(client, &message);
        }
    }

    fn on_close(&self, client: &Client<D>, code: CloseCode, reason: &str) {
        for f in &self.disconnect {
            f(client, code, reason);
        }
    }
}
