//! A filter of your own, by name, in the same `wsstack` command line:
//! `shout` upper-cases every text message before the filters after it.
//!
//! ```sh
//! cargo run -p wsstack-cli --example custom_filter -- serve --filter shout --filter broadcast_messages
//! ```

use wsstack::Message;
use wsstack_cli::{Cx, Filter, FilterRegistry, Flow};

/// Upper-cases text messages; binary ones pass unchanged.
struct Shout;

impl Filter for Shout {
    fn on_message(&self, _cx: &Cx<'_>, message: Message) -> Flow<Message> {
        match message.as_text() {
            Some(text) => Flow::Pass(Message::from(text.to_uppercase())),
            None => Flow::Pass(message),
        }
    }
}

fn main() -> std::process::ExitCode {
    let filters =
        FilterRegistry::builtin().with("shout", "upper-case every text message", || Shout);
    wsstack_cli::run_main(filters)
}
