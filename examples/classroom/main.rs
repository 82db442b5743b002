//! A shared drawing board for a classroom: everyone on the same board sees
//! everyone's lines. Run it, open http://127.0.0.1:8000/ in a few tabs (or
//! ?board=NAME for a board per table) and draw.
//!
//! ```text
//! cargo run --example classroom -- [--addr HOST:PORT]   # 0.0.0.0:8000 for the whole room
//! ```

use wsstack::ops::{App, Deserialize, OpClient, Serialize};

/// A line from (x1, y1) to (x2, y2).
#[derive(Deserialize, Serialize)]
struct Line {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    #[serde(default)]
    color: String,
}

fn main() {
    let addr = std::env::args().skip_while(|a| a != "--addr").nth(1);
    let pages = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/classroom/static");
    App::new()
        .static_dir(pages)
        .on_params("join", &["board"], |client, args| {
            client.add_to_group(&args.text("board"));
            client.set("board", args.text("board"));
        })
        .on("draw", |client: &OpClient, line: Line| {
            let board: String = client.get_or("board", String::new());
            client.broadcast_to_group_others(&board, "draw", line);
        })
        .on("clear", |client: &OpClient| {
            let board: String = client.get_or("board", String::new());
            client.broadcast_to_group(&board, "clear", ());
        })
        .run_at(&addr.unwrap_or("127.0.0.1:8000".into()));
}
