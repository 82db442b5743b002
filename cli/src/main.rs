//! The `wsstack` command: `wsstack serve` and `wsstack connect` (see
//! `wsstack --help`).

fn main() -> std::process::ExitCode {
    wsstack_cli::run_main(wsstack_cli::FilterRegistry::builtin())
}
