//! The HTTP side of an ops server: the browser library, the static folder
//! (safely: nothing outside it is ever served), the Origin check, and a
//! logger for programs that have none.

use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;

use crate::handshake::{Rejection, Request, Response};

/// The browser library, for `<script src="/wsstack.js">`.
pub const WSSTACK_JS: &str = concat!(include_str!("js/core.js"), include_str!("js/classic.js"));

/// The browser library as an ES module, for
/// `import { connect, send_message, HANDLERS } from "/wsstack.mjs"`.
pub const WSSTACK_MJS: &str = concat!(include_str!("js/core.js"), include_str!("js/module.js"));

/// The plain-HTTP handler: the library, then the static folder.
pub(crate) fn http_handler(
    root: PathBuf,
) -> impl Fn(&Request) -> Option<Response> + Send + Sync + 'static {
    move |req: &Request| Some(serve(&root, req))
}

fn respond(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
    let mut response = Response::new(status);
    if status == 200 {
        response.reason = "OK".into();
    }
    response.headers.push("Content-Type", content_type);
    // Pages change while you write them: never serve an old copy.
    response.headers.push("Cache-Control", "no-store");
    response.headers.push("X-Content-Type-Options", "nosniff");
    response.body = body.into();
    response
}

const TEXT: &str = "text/plain; charset=utf-8";

fn serve(root: &Path, req: &Request) -> Response {
    if req.method() != "GET" {
        let mut r = respond(405, TEXT, "only GET is served here\n");
        r.headers.push("Allow", "GET");
        return r;
    }
    match req.path() {
        "/wsstack.js" => return respond(200, "text/javascript; charset=utf-8", WSSTACK_JS),
        "/wsstack.mjs" => return respond(200, "text/javascript; charset=utf-8", WSSTACK_MJS),
        _ => {}
    }
    let Some(file) = resolve(root, req.path()) else {
        return respond(404, TEXT, format!("not found: {}\n", req.path()));
    };
    match std::fs::read(&file) {
        Ok(body) => respond(200, content_type(&file), body),
        Err(_) if req.path() == "/" => respond(
            200,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><meta charset=\"utf-8\"><title>wsstack</title>\
                 <p>The wsstack server is running. Put your page in <code>{}</code> \
                 and reload.</p><script src=\"/wsstack.js\"></script>",
                html_escape(&root.join("index.html").display().to_string())
            ),
        ),
        Err(_) => respond(404, TEXT, format!("not found: {}\n", req.path())),
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The file under `root` that a URL path names, or `None` if the path is
/// not allowed: `..`, hidden names (starting with `.`), backslashes, NUL,
/// or a link that leads outside `root`. A folder means its `index.html`.
pub(crate) fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
    if !decoded.starts_with('/') || decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut file = root.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') {
            return None;
        }
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(part)), None) => file.push(part),
            _ => return None,
        }
    }
    if decoded.ends_with('/') || file.is_dir() {
        file.push("index.html");
    }
    // Follow links, and refuse what ends up outside the folder.
    if let (Ok(real), Ok(real_root)) = (file.canonicalize(), root.canonicalize()) {
        if !real.starts_with(&real_root) {
            return None;
        }
    }
    Some(file)
}

/// The Content-Type for a file, by its extension.
pub(crate) fn content_type(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => TEXT,
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Accept a WebSocket from a page of this server (its `Origin` names the
/// `Host` it asked for), from one of the `allowed` origins, or from a
/// program that sends no `Origin`; refuse other web sites with 403.
pub(crate) fn check_origin(req: &Request, allowed: &[String]) -> Result<(), Rejection> {
    let Some(origin) = req.origin().map(str::trim) else {
        return Ok(());
    };
    let own = req.host().is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host.trim()))
    });
    if own || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    log::warn!(
        "refused a WebSocket from a page of {origin}; allow it with App::allow_origin({origin:?})"
    );
    Err(Rejection::status(403))
}

/// Print warnings and errors to the terminal, unless the program has a
/// logger already.
pub(crate) fn install_logger() {
    struct Terminal;
    impl log::Log for Terminal {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let level = match record.level() {
                    log::Level::Error => "error",
                    _ => "warning",
                };
                eprintln!("wsstack {level}: {}", record.args());
            }
        }
        fn flush(&self) {}
    }
    static TERMINAL: Terminal = Terminal;
    if log::set_logger(&TERMINAL).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("wsstack-web-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("static/sub")).unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        std::fs::write(dir.join("static/index.html"), "<p>hi").unwrap();
        std::fs::write(dir.join("static/sub/index.html"), "<p>sub").unwrap();
        std::fs::write(dir.join("static/app.js"), "1").unwrap();
        std::fs::write(dir.join("static/.env"), "hidden").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("static/link.txt")).unwrap();
        dir
    }

    #[test]
    fn paths_stay_inside_the_folder() {
        let dir = folder();
        let root = dir.join("static");
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/app.js"), Some(root.join("app.js")));
        assert_eq!(resolve(&root, "/sub"), Some(root.join("sub/index.html")));
        assert_eq!(resolve(&root, "/sub/"), Some(root.join("sub/index.html")));
        assert_eq!(resolve(&root, "//app.js"), Some(root.join("app.js")));
        assert_eq!(resolve(&root, "/a%20b.txt"), Some(root.join("a b.txt")));
        for bad in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/..\\secret.txt",
            "/.env",
            "/sub/./index.html",
            "/link.txt",
            "/%00",
            "/%ff",
            "app.js",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn content_types_follow_the_extension() {
        for (file, ty) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.HTM", "text/html; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.png", "image/png"),
            ("a.svg", "image/svg+xml"),
            ("a.json", "application/json"),
            ("a", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(file)), ty, "{file}");
        }
    }

    fn request(origin: Option<&str>) -> Request {
        let mut raw = String::from("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n");
        if let Some(o) = origin {
            raw.push_str(&format!("Origin: {o}\r\n"));
        }
        raw.push_str("\r\n");
        crate::handshake::parse_request(raw.as_bytes(), &crate::Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn only_own_pages_and_allowed_origins_connect() {
        let allowed = vec!["http://localhost:5173".to_owned()];
        assert!(check_origin(&request(None), &[]).is_ok());
        assert!(check_origin(&request(Some("http://127.0.0.1:8000")), &[]).is_ok());
        assert!(check_origin(&request(Some("http://localhost:5173")), &allowed).is_ok());
        let refused = check_origin(&request(Some("https://evil.example")), &allowed);
        assert_eq!(refused.unwrap_err().response.status, 403);
        assert!(check_origin(&request(Some("http://127.0.0.1:8001")), &[]).is_err());
    }
}
