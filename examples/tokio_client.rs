//! An async client on tokio: connect, send, print the echo, close.
//!
//! ```text
//! cargo run --features tokio --example tokio_client -- [ws://127.0.0.1:9001/]
//! ```

use futures_util::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsstack::Error> {
    let url = std::env::args().nth(1);
    let url = url.as_deref().unwrap_or("ws://127.0.0.1:9001/");
    let mut ws = wsstack::tokio::connect_url(url).await?;
    ws.send("Hello from tokio").await?;
    if let Some(reply) = ws.next().await {
        println!("echo: {:?}", reply?);
    }
    let (code, reason) = ws.close(1000, "bye").await?;
    println!("closed: {code} {reason:?}");
    Ok(())
}
