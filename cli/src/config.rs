//! The config file of `wsstack serve` (JSON, keys = the long option
//! names) and [`Settings`]: the file and the command line merged, checked
//! before the server starts.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use wsstack::server::ServerKind;

use crate::args::{ServeArgs, DEFAULT_ADDR, DEFAULT_PREFIX};

/// The config file, as read: every key optional, no other key allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    addr: Option<String>,
    #[serde(alias = "filter")]
    filters: Option<Vec<String>>,
    deflate: Option<bool>,
    server: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    log_level: Option<String>,
    max_message: Option<usize>,
    max_frame: Option<usize>,
    max_connections: Option<usize>,
    redis: Option<String>,
    #[serde(alias = "channel")]
    channels: Option<Vec<String>>,
    redis_prefix: Option<String>,
}

/// Every key, with what its value must be.
const KEYS: &[(&str, &str)] = &[
    ("addr", "a string, HOST:PORT"),
    ("filters", "a list of filter names"),
    ("filter", "a list of filter names"),
    ("deflate", "true or false"),
    ("server", "\"threaded\" or \"event-loop\""),
    ("cert", "a string, the path of a PEM file"),
    ("key", "a string, the path of a PEM file"),
    (
        "log-level",
        "one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
    ),
    ("max-message", "a whole number of bytes"),
    ("max-frame", "a whole number of bytes"),
    ("max-connections", "a whole number"),
    ("redis", "a string, a redis:// URL"),
    ("channels", "a list of Redis channel names"),
    ("channel", "a list of Redis channel names"),
    ("redis-prefix", "a string"),
];

const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

impl FileConfig {
    /// Read and check `path`. Errors name the file and, for a bad entry,
    /// the key.
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {shown}: {e}"))?;
        FileConfig::parse(&text).map_err(|e| format!("config file {shown}: {e}"))
    }

    /// Check and read the JSON text of a config file.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(map) = &value else {
            return Err(
                "expected a JSON object of options, such as {\"addr\": \"127.0.0.1:8000\"}".into(),
            );
        };
        for (key, item) in map {
            let Some((_, expected)) = KEYS.iter().find(|(k, _)| k == key) else {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                let hint = suggest(key)
                    .map(|k| format!(" (did you mean \"{k}\"?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown key \"{key}\"{hint}; the keys are the long option names: {}",
                    known.join(", ")
                ));
            };
            let mut one = serde_json::Map::new();
            one.insert(key.clone(), item.clone());
            if let Err(e) = serde_json::from_value::<FileConfig>(Value::Object(one)) {
                return Err(format!(
                    "key \"{key}\" must be {expected}, not {}: {e}",
                    kind(item)
                ));
            }
            match (key.as_str(), item.as_str()) {
                ("server", Some(name)) => {
                    name.parse::<ServerKind>()
                        .map_err(|e| format!("key \"server\": {e}"))?;
                }
                ("log-level", Some(level)) if !LOG_LEVELS.contains(&level) => {
                    return Err(format!(
                        "key \"log-level\" must be {expected}, not {level:?}"
                    ));
                }
                _ => {}
            }
        }
        if map.contains_key("filter") && map.contains_key("filters") {
            return Err("give \"filters\" or \"filter\", not both".into());
        }
        if map.contains_key("channel") && map.contains_key("channels") {
            return Err("give \"channels\" or \"channel\", not both".into());
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// A JSON value's kind and, when short, the value.
fn kind(value: &Value) -> String {
    let text = value.to_string();
    let name = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    if text.len() <= 40 {
        format!("{name} ({text})")
    } else {
        name.to_owned()
    }
}

/// The known key closest to `key` in spelling, if close.
fn suggest(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase().replace('_', "-");
    KEYS.iter()
        .map(|(k, _)| (*k, distance(&key, k)))
        .filter(|(k, d)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The settings of a server: command line over config file over
/// defaults, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `--addr`.
    pub addr: String,
    /// `--filter`, in order.
    pub filters: Vec<String>,
    /// Where the filters were named: `--filter`, the config file, or the
    /// defaults (for error messages).
    pub filters_source: String,
    /// `--deflate`.
    pub deflate: bool,
    /// `--server`.
    pub server: ServerKind,
    /// `--cert` and `--key`.
    pub tls: Option<(String, String)>,
    /// `--log-level`, if given.
    pub log_level: Option<String>,
    /// `--max-message`.
    pub max_message: Option<usize>,
    /// `--max-frame`.
    pub max_frame: Option<usize>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--redis`.
    pub redis: Option<String>,
    /// `--channel`.
    pub channels: Vec<String>,
    /// `--redis-prefix`.
    pub redis_prefix: String,
}

/// The filters used when none is named.
pub const DEFAULT_FILTERS: &[&str] = &["broadcast_messages", "stdout_messages"];

impl Settings {
    /// Merge the command line with its config file (if `-c`), and check.
    pub fn resolve(args: ServeArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(args, file)
    }

    /// Merge: what the command line gives wins over the file.
    pub fn merge(args: ServeArgs, file: FileConfig) -> Result<Settings, String> {
        let server = match args.server.or(file.server) {
            None => ServerKind::EventLoop,
            Some(name) => name
                .parse::<ServerKind>()
                .map_err(|e| format!("server: {e}"))?,
        };
        let log_level = args.log_level.or(file.log_level);
        if let Some(level) = &log_level {
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(format!(
                    "log-level: {level:?} is not one of {}",
                    LOG_LEVELS.join(", ")
                ));
            }
        }
        let tls = match (args.cert.or(file.cert), args.key.or(file.key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err("--cert needs --key (the certificate's private key)".into())
            }
            (None, Some(_)) => return Err("--key needs --cert (the certificate chain)".into()),
        };
        let (filters, filters_source) = if !args.filters.is_empty() {
            (args.filters, "--filter".to_owned())
        } else if let Some(filters) = file.filters {
            let source = match &args.config {
                Some(path) => format!("config file {}: key \"filters\"", path.display()),
                None => "config file: key \"filters\"".to_owned(),
            };
            (filters, source)
        } else {
            let defaults = DEFAULT_FILTERS.iter().map(|s| s.to_string()).collect();
            (defaults, "default filters".to_owned())
        };
        if filters.is_empty() {
            return Err("no filter: name at least one (see --help for the list)".into());
        }
        let channels = if !args.channels.is_empty() {
            args.channels
        } else {
            file.channels.unwrap_or_default()
        };
        let settings = Settings {
            addr: args
                .addr
                .or(file.addr)
                .unwrap_or_else(|| DEFAULT_ADDR.into()),
            filters,
            filters_source,
            deflate: args.deflate || file.deflate.unwrap_or(false),
            server,
            tls,
            log_level,
            max_message: args.max_message.or(file.max_message),
            max_frame: args.max_frame.or(file.max_frame),
            max_connections: args.max_connections.or(file.max_connections),
            redis: args.redis.or(file.redis),
            channels,
            redis_prefix: args
                .redis_prefix
                .or(file.redis_prefix)
                .unwrap_or_else(|| DEFAULT_PREFIX.into()),
        };
        if settings.redis_prefix.is_empty() {
            return Err("redis-prefix: the prefix is empty".into());
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file() {
        let file = FileConfig::parse(
            r#"{"addr": "127.0.0.1:0", "filters": ["echo"], "max-message": 10, "deflate": true}"#,
        )
        .unwrap();
        let s = Settings::merge(ServeArgs::default(), file).unwrap();
        assert_eq!(s.addr, "127.0.0.1:0");
        assert_eq!(s.filters, ["echo"]);
        assert_eq!(s.max_message, Some(10));
        assert!(s.deflate);
    }

    #[test]
    fn command_line_wins() {
        let file = FileConfig::parse(r#"{"addr": "127.0.0.1:1", "filter": ["echo"]}"#).unwrap();
        let args = ServeArgs {
            addr: Some("127.0.0.1:2".into()),
            filters: vec!["stdout_messages".into()],
            ..ServeArgs::default()
        };
        let s = Settings::merge(args, file).unwrap();
        assert_eq!(s.addr, "127.0.0.1:2");
        assert_eq!(s.filters, ["stdout_messages"]);
    }

    #[test]
    fn bad_files_name_the_key() {
        let e = FileConfig::parse(r#"{"adr": "x"}"#).unwrap_err();
        assert!(
            e.contains("unknown key \"adr\" (did you mean \"addr\"?)"),
            "{e}"
        );
        let e = FileConfig::parse(r#"{"max-message": "big"}"#).unwrap_err();
        assert!(
            e.contains("key \"max-message\" must be a whole number of bytes"),
            "{e}"
        );
        let e = FileConfig::parse(r#"{"filters": "echo"}"#).unwrap_err();
        assert!(e.contains("key \"filters\" must be a list"), "{e}");
        let e = FileConfig::parse("[1]").unwrap_err();
        assert!(e.contains("JSON object"), "{e}");
        let e = FileConfig::parse("{").unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn defaults() {
        let s = Settings::merge(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(s.addr, DEFAULT_ADDR);
        assert_eq!(s.filters, DEFAULT_FILTERS);
        assert_eq!(s.server, ServerKind::EventLoop);
        let e = Settings::merge(
            ServeArgs {
                cert: Some("c".into()),
                ..ServeArgs::default()
            },
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(e.contains("--cert needs --key"), "{e}");
    }
}
