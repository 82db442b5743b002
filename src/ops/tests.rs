//! Unit tests of reading messages and binding parameters: every mistake a
//! message can make, and the words that explain it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::app::{parse, unknown_op};
use super::args::Spec;
use super::client::Shared;
use super::error::{ErrorKind, OpError};
use super::params::bind;
use crate::connection::Message;

#[derive(Debug, Deserialize, PartialEq)]
struct Draw {
    x: f64,
    y: f64,
    #[serde(default = "black")]
    color: String,
    size: Option<u8>,
}

fn black() -> String {
    "black".into()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Shape {
    name: String,
    points: Vec<Point>,
    kind: Kind,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Line,
    Circle { radius: u32 },
}

fn draw(message: Value) -> Result<Draw, OpError> {
    bind::<Draw>("draw", &message)
}

fn assert_error(result: Result<impl std::fmt::Debug, OpError>, kind: ErrorKind, words: &[&str]) {
    let error = result.expect_err("an error");
    assert_eq!(error.kind(), kind, "{error}");
    for w in words {
        assert!(
            error.message().contains(w),
            "{:?} lacks {w:?}",
            error.message()
        );
    }
}

#[test]
fn typed_params_bind_with_defaults_and_options() {
    let d = draw(json!({"op": "draw", "x": 1, "y": 2.5})).unwrap();
    assert_eq!(
        d,
        Draw {
            x: 1.0,
            y: 2.5,
            color: "black".into(),
            size: None
        }
    );
    let d = draw(json!({"op": "draw", "x": 1, "y": 2, "color": "red", "size": 3})).unwrap();
    assert_eq!((d.color.as_str(), d.size), ("red", Some(3)));
    let d = draw(json!({"op": "draw", "x": 1, "y": 2, "size": null})).unwrap();
    assert_eq!(d.size, None);
}

#[test]
fn a_missing_param_is_named_with_the_list() {
    let e = draw(json!({"op": "draw", "x": 1})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingParam);
    assert_eq!(e.op(), Some("draw"));
    assert_eq!(e.param(), Some("y"));
    assert_eq!(
        e.message(),
        "op \"draw\" is missing the parameter \"y\" (it takes: x, y, color, size)"
    );
}

#[test]
fn an_extra_param_is_refused_with_a_hint() {
    let e = draw(json!({"op": "draw", "x": 1, "y": 2, "colour": "red"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ExtraParam);
    assert_eq!(e.param(), Some("colour"));
    assert_eq!(
        e.message(),
        "op \"draw\" has no parameter \"colour\" (did you mean \"color\"?); it takes: x, y, color, size"
    );
}

#[test]
fn a_wrong_type_says_what_was_expected_and_what_came() {
    let e = draw(json!({"op": "draw", "x": "ten", "y": 2})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongType);
    assert_eq!(e.param(), Some("x"));
    assert_eq!(
        e.message(),
        "op \"draw\": the parameter \"x\" should be a number, but it is the text \"ten\""
    );
    assert_error(
        draw(json!({"op": "draw", "x": 1, "y": 2, "size": 300})),
        ErrorKind::WrongType,
        &["\"size\"", "a whole number from 0 to 255", "the number 300"],
    );
    assert_error(
        draw(json!({"op": "draw", "x": 1, "y": 2, "size": 1.5})),
        ErrorKind::WrongType,
        &["\"size\"", "whole number", "the number 1.5"],
    );
    assert_error(
        draw(json!({"op": "draw", "x": 1, "y": 2, "color": false})),
        ErrorKind::WrongType,
        &["\"color\" should be text, but it is false"],
    );
    assert_error(
        draw(json!({"op": "draw", "x": [1], "y": 2})),
        ErrorKind::WrongType,
        &["\"x\" should be a number, but it is a list"],
    );
}

#[test]
fn nested_params_are_named_by_their_path() {
    let shape = |v: Value| bind::<Shape>("shape", &v);
    let ok = shape(
        json!({"op": "shape", "name": "a", "points": [{"x": 1, "y": 2}],
                          "kind": {"circle": {"radius": 3}}}),
    )
    .unwrap();
    assert_eq!(ok.kind, Kind::Circle { radius: 3 });
    let ok = shape(json!({"op": "shape", "name": "a", "points": [], "kind": "line"})).unwrap();
    assert_eq!(ok.kind, Kind::Line);

    let e = shape(json!({"op": "shape", "name": "a", "kind": "line",
                         "points": [{"x": 1, "y": 2}, {"x": "3", "y": 4}]}))
    .unwrap_err();
    assert_eq!(e.param(), Some("points[1].x"));
    assert!(e.message().contains("should be a whole number"), "{e}");

    let e = shape(json!({"op": "shape", "name": "a", "kind": "line",
                         "points": [{"x": 1}]}))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingParam);
    assert_eq!(e.param(), Some("points[0].y"));
    assert!(e.message().contains("(it takes: x, y)"), "{e}");

    let e = shape(json!({"op": "shape", "name": "a", "kind": "line",
                         "points": [{"x": 1, "y": 2, "z": 3}]}))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ExtraParam);
    assert_eq!(e.param(), Some("points[0].z"));

    let e = shape(json!({"op": "shape", "name": "a", "points": [], "kind": "cirle"})).unwrap_err();
    assert_eq!(e.param(), Some("kind"));
    assert!(e.message().contains("one of \"line\", \"circle\""), "{e}");
    assert!(e.message().contains("did you mean \"circle\"?"), "{e}");
}

#[test]
fn an_op_without_params_refuses_any() {
    assert!(bind::<()>("clear", &json!({"op": "clear"})).is_ok());
    let e = bind::<()>("clear", &json!({"op": "clear", "all": true})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ExtraParam);
    assert_eq!(
        e.message(),
        "op \"clear\" takes no parameters, but got \"all\""
    );
}

#[test]
fn any_json_can_be_taken_whole() {
    let v = bind::<Value>("any", &json!({"op": "any", "a": [1, 2]})).unwrap();
    assert_eq!(v, json!({"a": [1, 2]}));
    let m = bind::<std::collections::HashMap<String, i32>>("m", &json!({"op": "m", "a": 1}));
    assert_eq!(m.unwrap()["a"], 1);
    assert_error(
        bind::<std::collections::HashMap<String, i32>>("m", &json!({"op": "m", "a": "x"})),
        ErrorKind::WrongType,
        &["\"a\""],
    );
}

#[test]
fn named_params_check_presence_and_fill_defaults() {
    let spec = Spec::parse("add", &["a", "b=0", "label=sum", "exact=true"]);
    let map = |v: Value| v.as_object().unwrap().clone();
    let args = spec
        .bind("add", &map(json!({"op": "add", "a": 2})))
        .unwrap();
    assert_eq!(args.int("a"), 2);
    assert_eq!(args.int("b"), 0);
    assert_eq!(args.text("label"), "sum");
    assert!(args.bool("exact"));
    assert_eq!(args.number("a"), 2.0);
    assert_eq!(args.op(), "add");

    let e = spec.bind("add", &map(json!({"op": "add"}))).unwrap_err();
    assert_eq!((e.kind(), e.param()), (ErrorKind::MissingParam, Some("a")));
    assert_eq!(
        e.message(),
        "op \"add\" is missing the parameter \"a\" (it takes: a, b, label, exact)"
    );

    let e = spec
        .bind("add", &map(json!({"op": "add", "a": 1, "c": 2})))
        .unwrap_err();
    assert_eq!((e.kind(), e.param()), (ErrorKind::ExtraParam, Some("c")));

    let args = spec
        .bind("add", &map(json!({"op": "add", "a": "two"})))
        .unwrap();
    let e = args.try_get::<i64>("a").unwrap_err();
    assert_eq!((e.kind(), e.param()), (ErrorKind::WrongType, Some("a")));
    assert_eq!(
        e.message(),
        "op \"add\": the parameter \"a\" should be a whole number, but it is the text \"two\""
    );

    let none = Spec::parse("ping", &[]);
    let e = none
        .bind("ping", &map(json!({"op": "ping", "x": 1})))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "op \"ping\" takes no parameters, but got \"x\""
    );
}

#[test]
fn a_getter_of_the_wrong_type_unwinds_with_the_error() {
    let spec = Spec::parse("add", &["a"]);
    let args = spec
        .bind("add", json!({"a": "x"}).as_object().unwrap())
        .unwrap();
    let payload = std::panic::catch_unwind(|| args.int("a")).unwrap_err();
    let rejected = payload.downcast::<super::args::Rejected>().ok().unwrap();
    assert_eq!(rejected.0.param(), Some("a"));
}

#[test]
#[should_panic(expected = "listed twice")]
fn a_name_listed_twice_is_a_mistake_in_the_program() {
    Spec::parse("add", &["a", "a=1"]);
}

fn text(t: &str) -> Message {
    Message::Text(t.to_owned())
}

#[test]
fn every_malformed_message_gets_its_own_kind() {
    let cases = [
        (text("hello"), ErrorKind::NotJson, "is not JSON"),
        (text("{\"op\": \"draw\""), ErrorKind::NotJson, "is not JSON"),
        (Message::Binary(vec![1, 2]), ErrorKind::NotJson, "binary"),
        (
            text("[1, 2]"),
            ErrorKind::NotObject,
            "a list, not an object",
        ),
        (text("42"), ErrorKind::NotObject, "a number, not an object"),
        (
            text("\"draw\""),
            ErrorKind::NotObject,
            "text, not an object",
        ),
        (text("{\"x\": 1}"), ErrorKind::NoOp, "has no \"op\""),
        (text("{\"op\": 5}"), ErrorKind::BadOp, "it is 5"),
        (text("{\"op\": null}"), ErrorKind::BadOp, "it is null"),
        (
            text("{\"op\": \"connect\"}"),
            ErrorKind::ReservedOp,
            "sent by the server",
        ),
        (
            text("{\"op\": \"disconnect\"}"),
            ErrorKind::ReservedOp,
            "a page cannot",
        ),
    ];
    for (message, kind, words) in cases {
        let e = parse(&message).unwrap_err();
        assert_eq!(e.kind(), kind, "{message:?}: {e}");
        assert!(e.message().contains(words), "{message:?}: {e}");
        assert!(
            e.message().contains("{\"op\"")
                || kind == ErrorKind::BadOp
                || kind == ErrorKind::ReservedOp,
            "{e}"
        );
    }
    let (op, value) = parse(&text("{\"op\": \"draw\", \"x\": 1}")).unwrap();
    assert_eq!(op, "draw");
    assert_eq!(value["x"], 1);
}

#[test]
fn an_unknown_op_lists_the_known_ones() {
    let ops = ["draw", "clear", "connect", "join"];
    let e = unknown_op("drwa", ops.into_iter());
    assert_eq!(e.kind(), ErrorKind::UnknownOp);
    assert_eq!(e.op(), Some("drwa"));
    assert_eq!(
        e.message(),
        "there is no op \"drwa\" (did you mean \"draw\"?); the server knows: clear, draw, join"
    );
    let e = unknown_op("x", std::iter::empty());
    assert!(e.message().ends_with("the server knows: none yet"), "{e}");
}

#[test]
fn sent_messages_merge_the_op_with_the_params() {
    let shared = Shared::new();
    assert_eq!(
        shared.encode("sum", json!({"sum": 3})).unwrap(),
        r#"{"op":"sum","sum":3}"#
    );
    assert_eq!(shared.encode("ping", ()).unwrap(), r#"{"op":"ping"}"#);
    #[derive(serde::Serialize)]
    struct P {
        x: i32,
    }
    assert_eq!(
        shared.encode("p", P { x: 1 }).unwrap(),
        r#"{"op":"p","x":1}"#
    );
    for bad in [json!(5), json!([1]), json!({"op": "other"})] {
        let e = shared.encode("p", bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadParams, "{e}");
    }
    let e = shared.encode("eval", json!({"code": "1"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EvalNotAllowed);
    assert!(e.message().contains("allow_eval_js(true)"), "{e}");
    shared
        .allow_eval
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(shared.encode("eval", json!({"code": "1"})).is_ok());
}
