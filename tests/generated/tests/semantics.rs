//! The behaviour of generated code: QEMU's input rules and texts, union
//! and alternate dispatch, commands through both traits, branch handlers,
//! events, conditions and features. One concern per test, as in serde's
//! test suite.

use std::sync::{Arc, Mutex};

use qapi_generated_tests::{client, server};
use qapi_runtime::input::Role;
use qapi_runtime::policy::{CompatPolicy, InputPolicy, OutputPolicy};
use qapi_runtime::{Error, ErrorClass, Event as _, Input, Output, ToValue, Visit};
use serde_json::{json, Value};

fn read<T: Visit>(value: Value) -> Result<T, String> {
    Input::new().read(value).map_err(|e| e.to_string())
}

fn err<T: Visit + std::fmt::Debug>(value: Value) -> String {
    read::<T>(value).expect_err("input should be refused")
}

fn round_trip<T: Visit + ToValue>(value: Value) {
    let typed: T = read(value.clone()).expect("valid input");
    assert_eq!(typed.to_value(&Output::new()), value);
}

#[test]
fn missing_members_name_the_full_path() {
    use server::commands::Draw;
    assert_eq!(err::<Draw>(json!({})), "Parameter 'shape' is missing");
    assert_eq!(
        err::<Draw>(json!({"shape": {"name": "s", "points": [{"x": 1, "y": 2}, {"y": 1}]}})),
        "Parameter 'shape.points[1].x' is missing"
    );
}

#[test]
fn wrong_json_types_say_what_was_expected() {
    use server::commands::Draw;
    assert_eq!(
        err::<Draw>(json!({"shape": {"name": 1, "points": []}})),
        "Invalid parameter type for 'shape.name', expected: string"
    );
    assert_eq!(
        err::<Draw>(json!({"shape": {"name": "s", "points": {}}})),
        "Invalid parameter type for 'shape.points', expected: array"
    );
    assert_eq!(
        err::<Draw>(json!([])),
        "Invalid parameter type for '<anonymous>', expected: object"
    );
    assert_eq!(
        err::<Draw>(json!({"shape": {"name": "s", "points": [{"x": 1.5, "y": 0}]}})),
        "Invalid parameter type for 'shape.points[0].x', expected: integer"
    );
}

#[test]
fn unknown_members_are_unexpected() {
    use server::commands::Draw;
    assert_eq!(
        err::<Draw>(json!({"shape": {"name": "s", "points": [], "bogus": 1}})),
        "Parameter 'shape.bogus' is unexpected"
    );
    // Missing members are reported before unexpected ones, as QEMU
    // visits every member before checking for leftovers.
    assert_eq!(
        err::<Draw>(json!({"bogus": 1})),
        "Parameter 'shape' is missing"
    );
}

#[test]
fn integers_are_checked_per_width_with_qemus_naming() {
    let point = |x: Value, y: Value| json!({"x": x, "y": y});
    assert_eq!(
        err::<server::Point>(point(json!(128), json!(0))),
        "Parameter 'x' expects int8_t"
    );
    assert_eq!(
        err::<server::Point>(point(json!(-129), json!(0))),
        "Parameter 'x' expects int8_t"
    );
    assert_eq!(
        err::<server::Point>(point(json!(0), json!(65536))),
        "Parameter 'y' expects uint16_t"
    );
    let p: server::Point = read(point(json!(-128), json!(65535))).unwrap();
    assert_eq!((p.x, p.y), (-128, 65535));
    // size: any integer, negative ones wrapping as in QEMU.
    let p: server::Point = read(json!({"x": 0, "y": 0, "size": -1})).unwrap();
    assert_eq!(p.size, Some(u64::MAX));
    assert_eq!(
        err::<server::Point>(json!({"x": 0, "y": 0, "size": "1k"})),
        "Parameter 'size' expects uint64"
    );
}

#[test]
fn number_accepts_integers() {
    let p: server::Point = read(json!({"x": 0, "y": 0, "weight": 3})).unwrap();
    assert_eq!(p.weight, Some(3.0));
}

#[test]
fn enums_refuse_unknown_values_on_a_server_and_keep_them_on_a_client() {
    let shape = json!({"name": "s", "points": [], "color": "purple"});
    assert_eq!(
        err::<server::Shape>(shape.clone()),
        "Parameter 'color' does not accept value 'purple'"
    );
    let kept: client::Shape = Input::new()
        .with_role(Role::Client)
        .read(shape.clone())
        .unwrap();
    assert_eq!(kept.color, Some(client::Color::Unknown("purple".into())));
    assert_eq!(kept.to_value(&Output::new()), shape);
    // The client type still refuses it when reading as a server.
    assert!(Input::new().read::<client::Shape>(shape).is_err());
    assert_eq!("green".parse::<server::Color>(), Ok(server::Color::Green));
    assert!("purple".parse::<server::Color>().is_err());
    assert_eq!(server::Digits::from_wire("2-5"), Some(server::Digits::V25));
}

#[test]
fn union_dispatch_does_not_depend_on_key_order() {
    let a: server::Figure = read(json!({"kind": "circle", "id": "c", "radius": 2})).unwrap();
    let b: server::Figure = read(json!({"radius": 2, "id": "c", "kind": "circle"})).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.kind,
        server::FigureBranch::Circle(server::Circle { radius: 2 })
    );
    // Output follows schema order: base members, then the branch's.
    let out = serde_json::to_string(&a.to_value(&Output::new())).unwrap();
    assert_eq!(out, r#"{"id":"c","kind":"circle","radius":2}"#);
}

#[test]
fn a_discriminator_value_without_a_branch_round_trips() {
    round_trip::<server::Figure>(json!({"id": "n", "kind": "none"}));
    assert_eq!(
        err::<server::Figure>(json!({"id": "n", "kind": "none", "radius": 1})),
        "Parameter 'radius' is unexpected"
    );
    assert_eq!(
        err::<server::Figure>(json!({"id": "n"})),
        "Parameter 'kind' is missing"
    );
    assert_eq!(
        err::<server::Figure>(json!({"kind": "circle", "radius": 1})),
        "Parameter 'id' is missing"
    );
}

#[test]
fn alternates_choose_their_branch_by_json_type() {
    let p: server::PointOrName = read(json!({"x": 1, "y": 2})).unwrap();
    assert!(matches!(p, server::PointOrName::Point(_)));
    let n: server::PointOrName = read(json!("origin")).unwrap();
    assert_eq!(n, server::PointOrName::Name("origin".into()));
    assert_eq!(
        err::<server::PointOrName>(json!(1)),
        "Invalid parameter type for 'null', expected: PointOrName"
    );
    assert_eq!(
        read::<server::CountOrNull>(json!(null)).unwrap(),
        server::CountOrNull::Nothing(Default::default())
    );
    assert_eq!(
        read::<server::CountOrNull>(json!(7)).unwrap(),
        server::CountOrNull::Count(7)
    );
    assert_eq!(
        read::<server::FlagOrColor>(json!("red")).unwrap(),
        server::FlagOrColor::Color(server::Color::Red)
    );
    assert_eq!(
        read::<server::FlagOrColor>(json!(true)).unwrap(),
        server::FlagOrColor::Flag(true)
    );
    round_trip::<server::PointOrName>(json!("origin"));
}

#[test]
fn recursive_types_are_boxed_and_round_trip() {
    let tree = json!({"value": 1, "left": {"value": 2, "children": [{"value": 3}]}});
    round_trip::<server::Tree>(tree);
}

#[test]
fn rust_names_never_collide() {
    let s = server::QapiString {
        str: "s".into(),
        r#type: "t".into(),
        self_: Some(1),
        foo_bar: Some(2),
        foo_bar_2: Some(3),
    };
    assert_eq!(
        s.to_value(&Output::new()),
        json!({"str": "s", "type": "t", "self": 1, "foo-bar": 2, "fooBar": 3})
    );
    let settings = server::Settings::default();
    assert_eq!(settings.to_value(&Output::new()), json!({}));
}

#[test]
fn keyval_input_converts_strings_by_target_type() {
    let mut input = Input::keyval();
    let shape: server::Shape = input
        .read(json!({"name": "s", "points": [{"x": "-3", "y": "0x10", "size": "2k"}], "sizes": ["1M"]}))
        .unwrap();
    assert_eq!(shape.points[0].x, -3);
    assert_eq!(shape.points[0].y, 16);
    assert_eq!(shape.points[0].size, Some(2048));
    assert_eq!(shape.sizes, Some(vec![1 << 20]));
    let e = Input::keyval()
        .read::<server::Shape>(json!({"name": "s", "points": [{"x": "z", "y": "0"}]}))
        .unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'points.0.x' expects integer");
}

#[test]
fn serde_traits_go_through_qemus_rules() {
    let fig: server::Figure =
        serde_json::from_str(r#"{"id":"q","kind":"square","side":3}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&fig).unwrap(),
        r#"{"id":"q","kind":"square","side":3}"#
    );
    let e = serde_json::from_str::<server::Figure>(r#"{"id":"q","kind":"square"}"#).unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'side' is missing");
}

/// A server implementing the synchronous trait.
#[derive(Default)]
struct Canvas {
    figures: Vec<server::Figure>,
    calls: Vec<String>,
}

impl server::commands::Commands for Canvas {
    fn draw(&mut self, shape: server::Shape, scale: Option<f64>) -> Result<server::Point, Error> {
        self.calls.push(format!("draw {} {scale:?}", shape.name));
        Ok(server::Point {
            x: shape.points.len() as i8,
            y: 0,
            label: None,
            weight: scale,
            size: None,
        })
    }

    fn add_figure(&mut self, arguments: server::Figure) -> Result<(), Error> {
        if self.figures.iter().any(|f| f.id == arguments.id) {
            return Err(Error::generic(format!(
                "Duplicate ID '{}' for figure",
                arguments.id
            )));
        }
        self.figures.push(arguments);
        Ok(())
    }

    fn query_figures(&mut self) -> Result<Vec<server::Figure>, Error> {
        Ok(self.figures.clone())
    }

    fn old_cmd(&mut self) -> Result<(), Error> {
        self.calls.push("old-cmd".into());
        Ok(())
    }

    fn fire_and_forget(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn x_exp(&mut self, v: i64) -> Result<(), Error> {
        self.calls.push(format!("x-exp {v}"));
        Ok(())
    }

    fn send_signal(&mut self, arguments: server::Signal) -> Result<(), Error> {
        self.calls
            .push(format!("send-signal {:?}", arguments.kind.tag()));
        Ok(())
    }

    fn cond_args(&mut self, arguments: server::CondArgs) -> Result<(), Error> {
        self.calls
            .push(format!("cond-args {} {:?}", arguments.a, arguments.h));
        Ok(())
    }

    fn with_old_member(&mut self, old: Option<i64>, new: Option<i64>) -> Result<(), Error> {
        self.calls.push(format!("with-old-member {old:?} {new:?}"));
        Ok(())
    }
}

fn call(canvas: &mut Canvas, name: &str, args: Value) -> Option<Result<Value, Error>> {
    server::commands::dispatch(canvas, name, Some(args), &mut Input::new(), &Output::new())
}

#[test]
fn the_dispatcher_reads_calls_and_answers() {
    let mut canvas = Canvas::default();
    let r = call(
        &mut canvas,
        "draw",
        json!({"shape": {"name": "s", "points": [{"x": 0, "y": 0}]}, "scale": 2}),
    );
    assert_eq!(r, Some(Ok(json!({"x": 1, "y": 0, "weight": 2.0}))));
    let r = call(
        &mut canvas,
        "add-figure",
        json!({"id": "a", "kind": "none"}),
    );
    assert_eq!(r, Some(Ok(json!({}))));
    let r = call(
        &mut canvas,
        "add-figure",
        json!({"id": "a", "kind": "none"}),
    );
    assert_eq!(r, Some(Err(Error::generic("Duplicate ID 'a' for figure"))));
    let r = call(&mut canvas, "query-figures", json!({}));
    assert_eq!(r, Some(Ok(json!([{"id": "a", "kind": "none"}]))));
    // Argument errors carry the input visitor's text.
    let r = call(&mut canvas, "query-figures", json!({"x": 1}));
    assert_eq!(r, Some(Err(Error::generic("Parameter 'x' is unexpected"))));
    // Unknown commands and hand-written ones are the server's business.
    assert_eq!(call(&mut canvas, "nope", json!({})), None);
    assert_eq!(call(&mut canvas, "manual", json!({})), None);
    assert_eq!(canvas.calls, ["draw s Some(2.0)"]);
}

#[test]
fn command_metadata_is_exposed() {
    use qapi_runtime::Command as _;
    let info = server::commands::command_info("query-figures").unwrap();
    assert!(info.allow_oob);
    assert!(
        !server::commands::command_info("fire-and-forget")
            .unwrap()
            .success_response
    );
    assert!(!server::commands::command_info("manual").unwrap().gen);
    assert!(server::commands::command_info("old-cmd")
        .unwrap()
        .special
        .deprecated());
    assert_eq!(server::commands::QueryFigures::NAME, "query-figures");
    assert_eq!(server::commands::QueryFigures::info().name, "query-figures");
    // In `gated`, the unstable command exists only with the `unstable`
    // feature; elsewhere it is always there.
    let x_exp = qapi_generated_tests::gated::commands::COMMANDS
        .iter()
        .find(|c| c.name == "x-exp")
        .unwrap();
    assert_eq!(x_exp.enabled, cfg!(feature = "unstable"));
    assert!(x_exp.special.unstable());
}

#[test]
fn client_requests_serialize_their_arguments() {
    use qapi_runtime::Command as _;
    let req = client::commands::Draw {
        shape: client::Shape {
            name: "s".into(),
            points: vec![],
            color: Some(client::Color::Unknown("ultraviolet".into())),
            extra: None,
            sizes: None,
            digit: Some(client::Digits::V1),
        },
        scale: None,
    };
    assert_eq!(
        req.arguments(&Output::new()),
        Some(json!({"shape": {"name": "s", "points": [], "color": "ultraviolet", "digit": "1"}}))
    );
    assert_eq!(
        client::commands::QueryFigures.arguments(&Output::new()),
        None
    );
    let ret: <client::commands::Draw as qapi_runtime::Command>::Returns = Input::new()
        .with_role(Role::Client)
        .read(json!({"x": 1, "y": 2}))
        .unwrap();
    assert_eq!((ret.x, ret.y), (1, 2));
}

#[test]
fn compat_policy_rejects_and_hides_special_interfaces() {
    let mut canvas = Canvas::default();
    let reject = CompatPolicy {
        deprecated_input: InputPolicy::Reject,
        ..CompatPolicy::default()
    };
    let mut input = Input::new().with_policy(reject);
    let r = server::commands::dispatch(&mut canvas, "old-cmd", None, &mut input, &Output::new());
    assert_eq!(
        r,
        Some(Err(Error::new(
            ErrorClass::CommandNotFound,
            "Deprecated command old-cmd disabled by policy"
        )))
    );
    let r = server::commands::dispatch(
        &mut canvas,
        "with-old-member",
        Some(json!({"old": 1})),
        &mut input,
        &Output::new(),
    );
    assert_eq!(
        r,
        Some(Err(Error::generic(
            "Deprecated parameter old disabled by policy"
        )))
    );
    let r = server::commands::dispatch(
        &mut canvas,
        "with-old-member",
        Some(json!({"new": 1})),
        &mut input,
        &Output::new(),
    );
    assert_eq!(r, Some(Ok(json!({}))));
    let e = Input::new()
        .with_policy(reject)
        .read::<server::Color>(json!("blue"))
        .unwrap_err();
    assert_eq!(e.to_string(), "Deprecated value blue disabled by policy");
    // Accepted by default.
    let r = call(&mut canvas, "old-cmd", json!({}));
    assert_eq!(r, Some(Ok(json!({}))));
    // Hidden output: the deprecated event is not emitted.
    let hide = Output::with_policy(CompatPolicy {
        deprecated_output: OutputPolicy::Hide,
        ..CompatPolicy::default()
    });
    #[allow(deprecated)]
    let ev = server::events::Event::from(server::events::OldEvent);
    assert!(
        qapi_runtime::event::message(&ev, qapi_runtime::event::Timestamp::now(), &hide).is_none()
    );
    assert!(qapi_runtime::event::message(
        &ev,
        qapi_runtime::event::Timestamp::now(),
        &Output::new()
    )
    .is_some());
}

/// A handler for every branch of `Figure`.
struct Describe;

impl server::FigureHandler for Describe {
    type Output = String;

    fn circle(self, id: String, _hidden: Option<bool>, options: server::Circle) -> String {
        format!("{id}: circle of radius {}", options.radius)
    }

    fn square(self, id: String, _hidden: Option<bool>, options: server::Square) -> String {
        format!("{id}: square of side {}", options.side)
    }

    #[cfg(feature = "hex")]
    fn hexagon(self, id: String, _hidden: Option<bool>, options: server::Hexagon) -> String {
        format!("{id}: hexagon of side {}", options.side)
    }

    fn none(self, id: String, hidden: Option<bool>) -> String {
        format!("{id}: nothing, hidden={hidden:?}")
    }
}

#[test]
fn branch_handlers_get_one_call_per_branch() {
    let f: server::Figure = read(json!({"id": "a", "kind": "square", "side": 4})).unwrap();
    assert_eq!(f.dispatch(Describe), "a: square of side 4");
    let f: server::Figure = read(json!({"id": "b", "kind": "none", "hidden": true})).unwrap();
    assert_eq!(f.dispatch(Describe), "b: nothing, hidden=Some(true)");
}

#[test]
fn conditional_items_follow_the_cfg_mapping() {
    let hex = read::<server::Figure>(json!({"id": "h", "kind": "hexagon", "side": 6}));
    if cfg!(feature = "hex") {
        assert!(hex.is_ok());
    } else {
        assert_eq!(
            hex.unwrap_err(),
            "Parameter 'kind' does not accept value 'hexagon'"
        );
    }
    // CONFIG_IR is unmapped, hence undefined: `infrared` does not exist.
    assert_eq!(
        err::<server::Color>(json!("infrared")),
        "Parameter 'null' does not accept value 'infrared'"
    );
}

#[test]
fn events_are_typed_and_stamped() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = seen.clone();
    let emitter = qapi_runtime::event::Emitter::<server::events::Event>::new(move |ev, ts| {
        if let Some(m) = qapi_runtime::event::message(ev, ts, &Output::new()) {
            sink.lock().unwrap().push(m);
        }
    });
    emitter.emit(server::events::FigureAdded {
        id: "a".into(),
        kind: server::Kind::Circle,
    });
    emitter.emit(server::events::Reset);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0]["event"], "FIGURE_ADDED");
    assert_eq!(seen[0]["data"], json!({"id": "a", "kind": "circle"}));
    assert!(seen[0]["timestamp"]["seconds"].as_i64().unwrap() > 1_600_000_000);
    assert!(seen[0]["timestamp"]["microseconds"].as_i64().unwrap() < 1_000_000);
    assert_eq!(seen[1]["event"], "RESET");
    assert!(seen[1].get("data").is_none());
    // And back: a client parses them, unknown events are not errors.
    let mut input = Input::new().with_role(Role::Client);
    let parsed =
        server::events::Event::parse("FIGURE_ADDED", Some(seen[0]["data"].clone()), &mut input);
    assert!(matches!(
        parsed,
        Some(Ok(server::events::Event::FigureAdded(_)))
    ));
    assert!(server::events::Event::parse("SOMETHING_NEW", None, &mut input).is_none());
}

/// Runs a future to completion on this thread (the traits need no
/// particular executor).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn a_synchronous_implementation_serves_an_asynchronous_server() {
    let canvas = Mutex::new(Canvas::default());
    let r = block_on(server::commands::dispatch_async(
        &canvas,
        "add-figure",
        Some(json!({"id": "z", "kind": "circle", "radius": 1})),
        &mut Input::new(),
        &Output::new(),
    ));
    assert_eq!(r, Some(Ok(json!({}))));
    let r = block_on(server::commands::dispatch_async(
        &canvas,
        "query-figures",
        None,
        &mut Input::new(),
        &Output::new(),
    ));
    assert_eq!(
        r,
        Some(Ok(json!([{"id": "z", "kind": "circle", "radius": 1}])))
    );
}

#[test]
fn introspection_is_generated() {
    let schema: Value = serde_json::from_str(&server::introspection::qmp_schema_json()).unwrap();
    let names: Vec<&str> = schema
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"draw"));
    assert!(names.contains(&"FIGURE_ADDED"));
    assert!(
        names.contains(&"x-exp"),
        "introspection lists unstable commands as QEMU does"
    );
}

#[test]
fn builder_attributes_reach_the_types() {
    // build.rs adds `#[derive(PartialOrd, Ord)]` to Circle only.
    assert!(server::Circle { radius: 1 } < server::Circle { radius: 2 });
}
