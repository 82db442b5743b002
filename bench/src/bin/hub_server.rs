//! The fan-out benchmark's server on its own (see
//! `wsstack_bench::hub_server`): `hub_server [event-loop|threaded]
//! [--deflate]`, listening on 127.0.0.1 on a free port, printed on stdout.

fn main() {
    let mut kind = "event-loop".to_string();
    let mut deflate = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--deflate" => deflate = true,
            "event-loop" | "threaded" => kind = arg,
            other => {
                eprintln!("hub_server: unknown argument {other:?}; usage: hub_server [event-loop|threaded] [--deflate]");
                std::process::exit(2);
            }
        }
    }
    wsstack_bench::hub_server::serve(&kind, deflate);
}
