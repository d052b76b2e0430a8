//! QEMU's `tests/unit/test-keyval.c`, ported: same inputs, same outcomes,
//! and the texts QEMU gives (checked against QEMU 7.2's `-compat`, which
//! reports keyval errors as they are).

use qapi_runtime::input::Object;
use qapi_runtime::keyval::{self, KeyvalError, Parsed};
use qapi_runtime::policy::{InputPolicy, OutputPolicy};
use qapi_runtime::{CompatPolicy, Input, InputError, Map, Value};
use serde_json::json;

fn ok(params: &str, implied: Option<&str>) -> Value {
    keyval::parse(params, implied).unwrap_or_else(|e| panic!("{params:?}: {e}"))
}

fn err(params: &str, implied: Option<&str>) -> String {
    match keyval::parse(params, implied) {
        Ok(v) => panic!("{params:?} parsed as {v}"),
        Err(e) => e.to_string(),
    }
}

fn help(params: &str, implied: Option<&str>) -> Parsed {
    keyval::parse_with_help(params, implied).unwrap_or_else(|e| panic!("{params:?}: {e}"))
}

/// `/keyval/keyval_parse`
#[test]
fn keyval_parse() {
    // Nothing
    assert_eq!(ok("", None), json!({}));

    // Empty key (qemu_opts_parse() accepts this)
    assert_eq!(err("=val", None), "Invalid parameter ''");

    // Empty key fragment
    assert_eq!(err(".", None), "Invalid parameter '.'");
    assert_eq!(err("key.", None), "Invalid parameter 'key.'");

    // Invalid non-empty key (qemu_opts_parse() doesn't care)
    assert_eq!(err("7up=val", None), "Invalid parameter '7up'");

    // Overlong key
    let long_key = format!("{}z", "a".repeat(127));
    let params = format!("k.{long_key}=v");
    assert_eq!(
        err(&params[2..], None),
        format!("Parameter '{long_key}' is too long")
    );

    // Overlong key fragment
    assert_eq!(
        err(&params, None),
        format!("Parameter fragment '{long_key}' is too long")
    );

    // Long key (qemu_opts_parse() accepts and truncates silently)
    let params = format!("k.{}=v", &long_key[1..]);
    let mut expected = Map::new();
    expected.insert(long_key[1..].to_owned(), json!("v"));
    assert_eq!(ok(&params[2..], None), Value::Object(expected.clone()));

    // Long key fragment
    assert_eq!(ok(&params, None), json!({ "k": expected }));

    // Crap after valid key
    assert_eq!(err("key[0]=val", None), "Invalid parameter 'key[0]'");

    // Multiple keys, last one wins
    assert_eq!(ok("a=1,b=2,,x,a=3", None), json!({"a": "3", "b": "2,x"}));

    // Even when it doesn't in qemu_opts_parse()
    assert_eq!(ok("id=foo,id=bar", None), json!({"id": "bar"}));

    // Dotted keys
    assert_eq!(
        ok("a.b.c=1,a.b.c=2,d=3", None),
        json!({"a": {"b": {"c": "2"}}, "d": "3"})
    );

    // Inconsistent dotted keys
    assert_eq!(
        err("a.b=1,a=2", None),
        "Parameters 'a.*' used inconsistently"
    );
    assert_eq!(
        err("a.b=1,a.b.c=2", None),
        "Parameters 'a.b.*' used inconsistently"
    );

    // Trailing comma is ignored
    assert_eq!(ok("x=y,", None), json!({"x": "y"}));

    // Except when it isn't
    assert_eq!(err(",", None), "Invalid parameter ''");

    // Value containing ,id= not misinterpreted as qemu_opts_parse() does
    assert_eq!(ok("x=,,id=bar", None), json!({"x": ",id=bar"}));

    // Anti-social ID is left to caller (qemu_opts_parse() rejects it)
    assert_eq!(ok("id=666", None), json!({"id": "666"}));

    // Implied value not supported (unlike qemu_opts_parse())
    assert_eq!(
        err("an,noaus,noaus=", None),
        "Expected '=' after parameter 'an'"
    );

    // Implied value, key "no" (qemu_opts_parse(): negated empty key)
    assert_eq!(err("no", None), "Expected '=' after parameter 'no'");

    // Implied key
    assert_eq!(
        ok("an,aus=off,noaus=", Some("implied")),
        json!({"implied": "an", "aus": "off", "noaus": ""})
    );

    // Implied dotted key
    assert_eq!(
        ok("val", Some("eins.zwei")),
        json!({"eins": {"zwei": "val"}})
    );

    // Implied key with empty value (qemu_opts_parse() accepts this)
    assert_eq!(err(",", Some("implied")), "Invalid parameter ''");

    // Likewise (qemu_opts_parse(): implied key with comma value)
    assert_eq!(err(",,,a=1", Some("implied")), "Invalid parameter ''");

    // Implied key's value can't have comma (qemu_opts_parse(): it can)
    assert_eq!(err("val,,ue", Some("implied")), "Invalid parameter ''");

    // Empty key is not an implied key
    assert_eq!(err("=val", Some("implied")), "Invalid parameter ''");

    // "help" by itself, without implied key
    assert_eq!(
        help("help", None),
        Parsed {
            value: json!({}),
            help: true
        }
    );

    // "help" by itself, with implied key
    assert_eq!(
        help("help", Some("implied")),
        Parsed {
            value: json!({}),
            help: true
        }
    );

    // "help" when no help is available, without implied key
    assert_eq!(err("help", None), "Help is not available for this option");

    // "help" when no help is available, with implied key
    assert_eq!(
        err("help", Some("implied")),
        "Help is not available for this option"
    );

    // Key "help"
    assert_eq!(
        help("help=on", None),
        Parsed {
            value: json!({"help": "on"}),
            help: false
        }
    );

    // "help" followed by crap, without implied key
    assert_eq!(
        keyval::parse_with_help("help.abc", None)
            .unwrap_err()
            .to_string(),
        "Expected '=' after parameter 'help.abc'"
    );

    // "help" followed by crap, with implied key
    assert_eq!(
        help("help.abc", Some("implied")),
        Parsed {
            value: json!({"implied": "help.abc"}),
            help: false
        }
    );

    // "help" with other stuff, without implied key
    assert_eq!(
        help("number=42,help,foo=bar", None),
        Parsed {
            value: json!({"number": "42", "foo": "bar"}),
            help: true
        }
    );

    // "help" with other stuff, with implied key
    assert_eq!(
        help("val,help,foo=bar", Some("implied")),
        Parsed {
            value: json!({"implied": "val", "foo": "bar"}),
            help: true
        }
    );
}

/// `/keyval/keyval_parse/list`
#[test]
fn keyval_parse_list() {
    // Root can't be a list
    assert_eq!(err("0=1", None), "Invalid parameter '0'");

    // List elements need not be in order
    assert_eq!(
        ok("list.0=null,list.2=zwei,list.1=eins", None),
        json!({"list": ["null", "eins", "zwei"]})
    );

    // Multiple indexes, last one wins
    assert_eq!(
        ok("list.1=goner,list.0=null,list.01=eins,list.2=zwei", None),
        json!({"list": ["null", "eins", "zwei"]})
    );

    // List at deeper nesting
    assert_eq!(
        ok("a.list.1=eins,a.list.00=null,a.list.2=zwei", None),
        json!({"a": {"list": ["null", "eins", "zwei"]}})
    );

    // Inconsistent dotted keys: both list and dictionary
    assert_eq!(
        err("a.b.c=1,a.b.0=2", None),
        "Parameters 'a.b.*' used inconsistently"
    );
    assert_eq!(
        err("a.0.c=1,a.b.c=2", None),
        "Parameters 'a.*' used inconsistently"
    );

    // Missing list indexes
    assert_eq!(err("list.1=lonely", None), "Parameter 'list.0' missing");
    assert_eq!(
        err("list.0=null,list.2=eins,list.02=zwei", None),
        "Parameter 'list.1' missing"
    );
}

/// Visits the root struct of `params` with `f`, then checks it as
/// `visit_check_struct()` does.
fn visit<T>(
    params: &str,
    f: impl FnOnce(&mut Input, &mut Object) -> Result<T, InputError>,
) -> Result<T, InputError> {
    let mut input = Input::keyval();
    let mut root = input.start_struct(None, ok(params, None))?;
    let done = f(&mut input, &mut root)?;
    input.end_struct(root)?;
    Ok(done)
}

fn visit_err<T: std::fmt::Debug>(
    params: &str,
    f: impl FnOnce(&mut Input, &mut Object) -> Result<T, InputError>,
) -> String {
    visit(params, f).unwrap_err().to_string()
}

/// `/keyval/visit/bool`
#[test]
fn keyval_visit_bool() {
    let (b1, b2) = visit("bool1=on,bool2=off", |i, o| {
        Ok((i.member::<bool>(o, "bool1")?, i.member::<bool>(o, "bool2")?))
    })
    .unwrap();
    assert!(b1);
    assert!(!b2);

    assert_eq!(
        visit_err("bool1=offer", |i, o| i.member::<bool>(o, "bool1")),
        "Parameter 'bool1' expects 'on' or 'off'"
    );
}

/// `/keyval/visit/number`
#[test]
fn keyval_visit_number() {
    // Lower limit zero
    assert_eq!(
        visit("number1=0", |i, o| i.member::<u64>(o, "number1")).unwrap(),
        0
    );

    // Upper limit 2^64-1
    let both = |i: &mut Input, o: &mut Object| {
        Ok((
            i.member::<u64>(o, "number1")?,
            i.member::<u64>(o, "number2")?,
        ))
    };
    assert_eq!(
        visit("number1=18446744073709551615,number2=-1", both).unwrap(),
        (u64::MAX, u64::MAX)
    );

    // Above upper limit
    assert_eq!(
        visit_err("number1=18446744073709551616", |i, o| i
            .member::<u64>(o, "number1")),
        "Parameter 'number1' expects integer"
    );

    // Below lower limit
    assert_eq!(
        visit_err("number1=-18446744073709551616", |i, o| i
            .member::<u64>(o, "number1")),
        "Parameter 'number1' expects integer"
    );

    // Hex and octal
    assert_eq!(visit("number1=0x2a,number2=052", both).unwrap(), (42, 42));

    // Trailing crap
    let mut input = Input::keyval();
    let mut root = input
        .start_struct(None, ok("number1=3.14,number2=08", None))
        .unwrap();
    let e = input.member::<u64>(&mut root, "number1").unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'number1' expects integer");
    let e = input.member::<u64>(&mut root, "number2").unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'number2' expects integer");
}

fn sizes(params: &str, names: &[&'static str]) -> Vec<Result<u64, String>> {
    let mut input = Input::keyval();
    let mut root = input.start_struct(None, ok(params, None)).unwrap();
    let out = names
        .iter()
        .map(|&n| {
            input
                .member_with(&mut root, n, Input::size)
                .map_err(|e| e.to_string())
        })
        .collect();
    input.end_struct(root).unwrap();
    out
}

/// `/keyval/visit/size`
#[test]
fn keyval_visit_size() {
    // Lower limit zero
    assert_eq!(sizes("sz1=0", &["sz1"]), [Ok(0)]);

    // Around double limit of precision: 2^53-1, 2^53, 2^53+1
    assert_eq!(
        sizes(
            "sz1=9007199254740991,sz2=9007199254740992,sz3=9007199254740993",
            &["sz1", "sz2", "sz3"]
        ),
        [
            Ok(0x1f_ffff_ffff_ffff),
            Ok(0x20_0000_0000_0000),
            Ok(0x20_0000_0000_0001)
        ]
    );

    // Close to signed integer limit 2^63
    assert_eq!(
        sizes(
            "sz1=9223372036854775807,sz2=9223372036854775808,sz3=9223372036854775809",
            &["sz1", "sz2", "sz3"]
        ),
        [
            Ok(0x7fff_ffff_ffff_ffff),
            Ok(0x8000_0000_0000_0000),
            Ok(0x8000_0000_0000_0001)
        ]
    );

    // Close to actual upper limit 0xfffffffffffff800 (53 msbs set)
    assert_eq!(
        sizes(
            "sz1=18446744073709549568,sz2=18446744073709550591",
            &["sz1", "sz2"]
        ),
        [Ok(0xffff_ffff_ffff_f800), Ok(0xffff_ffff_ffff_fbff)]
    );

    // Actual limit 2^64-1
    assert_eq!(sizes("sz1=18446744073709551615", &["sz1"]), [Ok(u64::MAX)]);

    // Beyond limits
    let e = |n: &str| Err(format!("Parameter '{n}' expects size"));
    assert_eq!(
        sizes("sz1=-1,sz2=18446744073709551616", &["sz1", "sz2"]),
        [e("sz1"), e("sz2")]
    );

    // Suffixes
    assert_eq!(
        sizes(
            "sz1=8b,sz2=1.5k,sz3=2M,sz4=0.1G,sz5=16777215T",
            &["sz1", "sz2", "sz3", "sz4", "sz5"]
        ),
        [
            Ok(8),
            Ok(1536),
            Ok(2 << 20),
            Ok((1 << 30) / 10),
            Ok(16777215 << 40)
        ]
    );

    // Beyond limit with suffix
    assert_eq!(sizes("sz1=16777216T", &["sz1"]), [e("sz1")]);

    // Trailing crap
    assert_eq!(
        sizes("sz1=0Z,sz2=16Gi", &["sz1", "sz2"]),
        [e("sz1"), e("sz2")]
    );
}

/// `/keyval/visit/dict`
#[test]
fn keyval_visit_dict() {
    let (c, d) = visit("a.b.c=1,a.b.c=2,d=3", |i, root| {
        let a = root.remove("a").unwrap();
        let mut a = i.start_struct(Some("a"), a)?;
        let b = a.remove("b").unwrap();
        let mut b = i.start_struct(Some("b"), b)?;
        let c = i.member::<i64>(&mut b, "c")?;
        i.end_struct(b)?;
        i.end_struct(a)?;
        Ok((c, i.member::<i64>(root, "d")?))
    })
    .unwrap();
    assert_eq!((c, d), (2, 3));

    let mut input = Input::keyval();
    let mut root = input.start_struct(None, ok("a.b=", None)).unwrap();
    let a = root.remove("a").unwrap();
    let mut a = input.start_struct(Some("a"), a).unwrap();
    // a.c missing
    let e = input.member::<i64>(&mut a, "c").unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'a.c' is missing");
    // a.b unexpected
    let e = input.end_struct(a).unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'a.b' is unexpected");
}

/// `/keyval/visit/list`, the part that reads lists whole (the Rust
/// bindings never visit a list element by element, so QEMU's checks for
/// left-over and missing elements of a hand-driven visit have no
/// counterpart).
#[test]
fn keyval_visit_list() {
    #[derive(Debug, PartialEq)]
    enum Item {
        Str(String),
        List(Vec<String>),
    }
    let a = visit("a.0=,a.1=I,a.2.0=II", |i, root| {
        let a = root.remove("a").unwrap();
        i.list(Some("a"), a, |i, name, v| match v {
            Value::Array(_) => i.list(name, v, |i, n, v| i.string(n, v)).map(Item::List),
            v => i.string(name, v).map(Item::Str),
        })
    })
    .unwrap();
    assert_eq!(
        a,
        [
            Item::Str(String::new()),
            Item::Str("I".into()),
            Item::List(vec!["II".into()])
        ]
    );

    // A list where a scalar is expected, and the other way round.
    assert_eq!(
        visit_err("a.0=,b.0.0=head", |i, o| i.member::<String>(o, "a")),
        "Parameters 'a.*' are unexpected"
    );
    assert_eq!(
        visit_err("a=x", |i, o| i.member::<Vec<String>>(o, "a")),
        "Invalid parameter type for 'a', expected: array"
    );
    assert_eq!(
        visit_err("a.0=1,a.1=x", |i, o| i.member::<Vec<u8>>(o, "a")),
        "Parameter 'a.1' expects integer"
    );
}

/// `/keyval/visit/optional`
#[test]
fn keyval_visit_optional() {
    let b = visit("a.b=1", |i, root| {
        assert!(!root.contains_key("b")); // b missing
        assert_eq!(i.optional::<i64>(root, "b")?, None);
        let a = root.remove("a").unwrap(); // a present
        let mut a = i.start_struct(Some("a"), a)?;
        let b = i.optional::<i64>(&mut a, "b")?; // a.b present
        assert_eq!(i.optional::<i64>(&mut a, "a")?, None); // a.a missing
        i.end_struct(a)?;
        Ok(b)
    })
    .unwrap();
    assert_eq!(b, Some(1));
}

/// `/keyval/visit/any`
#[test]
fn keyval_visit_any() {
    let any = visit("a.0=null,a.1=1", |i, o| i.member::<Value>(o, "a")).unwrap();
    assert_eq!(any, json!(["null", "1"]));
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// `/keyval/merge/dict`
#[test]
fn keyval_merge_dict() {
    let mut first = object(ok("opt1=abc,opt2.sub1=def,opt2.sub2=ghi,opt3=xyz", None));
    let second = object(ok("opt1=ABC,opt2.sub2=GHI,opt2.sub3=JKL", None));
    let combined = ok(
        "opt1=ABC,opt2.sub1=def,opt2.sub2=GHI,opt2.sub3=JKL,opt3=xyz",
        None,
    );
    keyval::merge(&mut first, &second).unwrap();
    assert_eq!(Value::Object(first), combined);
}

/// `/keyval/merge/list`
#[test]
fn keyval_merge_list() {
    let mut first = object(ok("opt1.0=abc,opt2.0=xyz", None));
    let second = object(ok("opt1.0=def", None));
    let combined = ok("opt1.0=abc,opt1.1=def,opt2.0=xyz", None);
    keyval::merge(&mut first, &second).unwrap();
    assert_eq!(Value::Object(first), combined);
}

/// `/keyval/merge/conflict`
#[test]
fn keyval_merge_conflict() {
    let mut first = object(ok("opt2=ABC", None));
    let mut second = object(ok("opt2.sub1=def,opt2.sub2=ghi", None));
    let third = first.clone();
    let e = keyval::merge(&mut first, &second).unwrap_err();
    assert_eq!(e, KeyvalError::MergeConflict("opt2".into()));
    assert_eq!(e.to_string(), "Parameter 'opt2' used inconsistently");
    let e = keyval::merge(&mut second, &third).unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'opt2' used inconsistently");

    let mut first = object(ok("a.b.c=1,a.d=2", None));
    let second = object(ok("a.b.c.x=1", None));
    assert_eq!(
        keyval::merge(&mut first, &second).unwrap_err().to_string(),
        "Parameter 'a.b.c' used inconsistently"
    );
}

/// Beyond test-keyval.c: more of keyval.c's corners (each text checked
/// against QEMU 7.2).
#[test]
fn keyval_corners() {
    // `?` is help too; a value may hold `=`; downstream names.
    assert_eq!(
        help("?", None),
        Parsed {
            value: json!({}),
            help: true
        }
    );
    assert_eq!(
        help("?,a=1", Some("t")),
        Parsed {
            value: json!({"a": "1"}),
            help: true
        }
    );
    assert_eq!(err("?x", None), "Invalid parameter '?x'");
    assert_eq!(ok("a=b=c,d===", None), json!({"a": "b=c", "d": "=="}));
    assert_eq!(
        ok("__org.qemu_x.y=1", None),
        json!({"__org.qemu_x": {"y": "1"}})
    );
    assert_eq!(err("_x=1", None), "Invalid parameter '_x'");
    assert_eq!(err("__org_=1", None), "Invalid parameter '__org_'");
    assert_eq!(ok("a-b_c=1", None), json!({"a-b_c": "1"}));
    // A fragment of digits is an index only after the first.
    assert_eq!(err("a.0b=1", None), "Invalid parameter 'a.0b'");
    assert_eq!(err("a..b=1", None), "Invalid parameter 'a..b'");
    assert_eq!(err("a.b", None), "Expected '=' after parameter 'a.b'");
    // The earlier fragment's conflict is found before a later fragment's
    // error, as QEMU walks the key.
    assert_eq!(
        err("a=1,a.b.$=2", None),
        "Parameters 'a.*' used inconsistently"
    );
    assert_eq!(err("a=1,a.$=2", None), "Invalid parameter 'a.$'");
    // Errors stop the parse: a later error is not reached.
    assert_eq!(
        err("a.b=1,a=2,=", None),
        "Parameters 'a.*' used inconsistently"
    );
    assert_eq!(err("x=1,help,=", None), "Invalid parameter ''");
    // Help is refused before lists are checked.
    assert_eq!(
        err("l.1=x,help", None),
        "Help is not available for this option"
    );
    // Huge indices are capped at INT_MAX, and found missing.
    assert_eq!(
        err("l.0=a,l.99999999999999999999=b", None),
        "Parameter 'l.1' missing"
    );
    assert_eq!(
        ok("l.0=a,l.00000000000000000001=b", None),
        json!({"l": ["a", "b"]})
    );
    // A trailing comma after an implied value; empty values.
    assert_eq!(ok("v,", Some("t")), json!({"t": "v"}));
    assert_eq!(ok("a=,b=", None), json!({"a": "", "b": ""}));
    assert_eq!(ok("a=,,", None), json!({"a": ","}));
    assert_eq!(ok("a=x,,,b=y", None), json!({"a": "x,", "b": "y"}));
    // The implied key applies to the first parameter only.
    assert_eq!(err("a=1,v", Some("t")), "Expected '=' after parameter 'v'");
    // Non-ASCII values are kept; non-ASCII keys are invalid.
    assert_eq!(ok("a=é,,ü", None), json!({"a": "é,ü"}));
    assert_eq!(err("é=1", None), "Invalid parameter 'é'");
    assert_eq!(ok("é", Some("t")), json!({"t": "é"}));
    // The text ends at a NUL, as a C string.
    assert_eq!(ok("a=1\0,b=2", None), json!({"a": "1"}));
}

#[test]
fn keyval_depth_is_bounded() {
    let deep = format!("{}=1", vec!["a"; keyval::MAX_DEPTH].join("."));
    assert!(keyval::parse(&deep, None).is_ok());
    let deeper = format!("{}=1", vec!["a"; keyval::MAX_DEPTH + 1].join("."));
    assert!(matches!(
        keyval::parse(&deeper, None),
        Err(KeyvalError::TooDeep(_))
    ));
    let huge = format!("{}=1", vec!["a"; 100_000].join("."));
    assert!(matches!(
        keyval::parse(&huge, None),
        Err(KeyvalError::TooDeep(_))
    ));
}

/// Item 5: `-compat` as QEMU parses it.
#[test]
fn compat_option() {
    let p = CompatPolicy::from_option("deprecated-input=reject,deprecated-output=hide").unwrap();
    assert_eq!(p.deprecated_input, InputPolicy::Reject);
    assert_eq!(p.deprecated_output, OutputPolicy::Hide);
    assert_eq!(p.unstable_input, InputPolicy::Accept);
    assert_eq!(p.unstable_output, OutputPolicy::Accept);

    let p: CompatPolicy = "unstable-input=crash,unstable-output=hide,deprecated-input=accept"
        .parse()
        .unwrap();
    assert_eq!(p.unstable_input, InputPolicy::Crash);
    assert_eq!(p.unstable_output, OutputPolicy::Hide);
    assert_eq!(
        CompatPolicy::from_option("").unwrap(),
        CompatPolicy::default()
    );
    // Last one wins, as everywhere in keyval.
    let p = CompatPolicy::from_option("deprecated-input=reject,deprecated-input=crash").unwrap();
    assert_eq!(p.deprecated_input, InputPolicy::Crash);
    // JSON, as qobject_input_visitor_new_str() reads text starting with `{`.
    let p =
        CompatPolicy::from_option(r#"{"deprecated-input": "reject", "unstable-output": "hide"}"#)
            .unwrap();
    assert_eq!(p.deprecated_input, InputPolicy::Reject);
    assert_eq!(p.unstable_output, OutputPolicy::Hide);

    let e = |t: &str| CompatPolicy::from_option(t).unwrap_err().to_string();
    assert_eq!(
        e("deprecated-input=bogus"),
        "Parameter 'deprecated-input' does not accept value 'bogus'"
    );
    assert_eq!(
        e("deprecated-output=reject"),
        "Parameter 'deprecated-output' does not accept value 'reject'"
    );
    assert_eq!(
        e("deprecated-input=Reject"),
        "Parameter 'deprecated-input' does not accept value 'Reject'"
    );
    assert_eq!(
        e("deprecated-input=reject,foo=bar"),
        "Parameter 'foo' is unexpected"
    );
    assert_eq!(
        e("deprecated-input.x=1"),
        "Parameters 'deprecated-input.*' are unexpected"
    );
    assert_eq!(
        e("deprecated-input.0=reject"),
        "Parameters 'deprecated-input.*' are unexpected"
    );
    assert_eq!(e("reject"), "Expected '=' after parameter 'reject'");
    assert_eq!(e("help"), "Help is not available for this option");
    assert_eq!(
        e("deprecated-input"),
        "Expected '=' after parameter 'deprecated-input'"
    );
    assert_eq!(
        e(r#"{"deprecated-input": true}"#),
        "Invalid parameter type for 'deprecated-input', expected: string"
    );
    assert_eq!(
        e(r#"{"deprecated-input": "reject", "x": 1}"#),
        "Parameter 'x' is unexpected"
    );
}
