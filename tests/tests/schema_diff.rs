//! `qapi_codegen::diff` on hand-written schema pairs: one test per rule
//! of the classification (see the rules in `qapi-codegen/src/diff/mod.rs`),
//! each asserting the exact list of changes with their classes; then
//! the JSON output and `qapi-gen diff`'s exit status.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qapi_codegen::diff::{self, Class, Report};
use qapi_parser::Options;
use qapi_tests::{qapi_gen, run};

use Class::{BreaksBoth, BreaksClients, BreaksServers, Compatible, Feature};

/// Writes `text` to `dir/name` and loads it as `qapi-gen diff` does.
fn load(dir: &Path, name: &str, text: &str) -> qapi_parser::Schema {
    let path = dir.join(name);
    fs::write(&path, text).expect("cannot write a schema");
    qapi_parser::load(&path, &Options { legacy: true })
        .unwrap_or_else(|err| panic!("{name} is not a valid schema:\n{err}\n{text}"))
}

fn report(old: &str, new: &str) -> Report {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    diff::diff(
        &load(dir.path(), "old.json", old),
        &load(dir.path(), "new.json", new),
    )
}

/// Asserts that the upgrade from `old` to `new` is exactly `expected`,
/// in any order.
#[track_caller]
fn assert_changes(old: &str, new: &str, expected: &[(Class, &str)]) {
    let mut got: Vec<(Class, String)> = report(old, new)
        .changes
        .iter()
        .map(|c| (c.class, c.to_string()))
        .collect();
    let mut want: Vec<(Class, String)> = expected
        .iter()
        .map(|(class, text)| (*class, text.to_string()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "\nold:\n{old}\nnew:\n{new}");
}

#[test]
fn command_removed_breaks_old_clients() {
    assert_changes(
        "{ 'command': 'keep' }\n{ 'command': 'gone' }",
        "{ 'command': 'keep' }",
        &[(BreaksClients, "command 'gone': removed")],
    );
}

#[test]
fn event_removed_breaks_old_clients() {
    assert_changes(
        "{ 'event': 'KEEP' }\n{ 'event': 'GONE' }",
        "{ 'event': 'KEEP' }",
        &[(BreaksClients, "event 'GONE': removed")],
    );
}

#[test]
fn commands_and_events_added_are_compatible() {
    assert_changes(
        "{ 'command': 'keep' }",
        "{ 'command': 'keep' }\n{ 'command': 'new' }\n{ 'event': 'NEW' }",
        &[
            (Compatible, "command 'new': added"),
            (Compatible, "event 'NEW': added"),
        ],
    );
}

#[test]
fn argument_removed_breaks_old_clients() {
    assert_changes(
        "{ 'command': 'c', 'data': { 'a': 'int', '*b': 'str' } }",
        "{ 'command': 'c', 'data': { 'a': 'int' } }",
        &[(
            BreaksClients,
            "command 'c' argument 'b': removed (was optional)",
        )],
    );
}

#[test]
fn argument_made_mandatory_breaks_old_clients() {
    assert_changes(
        "{ 'command': 'c', 'data': { '*a': 'int' } }",
        "{ 'command': 'c', 'data': { 'a': 'int' } }",
        &[(BreaksClients, "command 'c' argument 'a': now mandatory")],
    );
}

#[test]
fn argument_made_optional_breaks_old_servers() {
    assert_changes(
        "{ 'command': 'c', 'data': { 'a': 'int' } }",
        "{ 'command': 'c', 'data': { '*a': 'int' } }",
        &[(BreaksServers, "command 'c' argument 'a': now optional")],
    );
}

#[test]
fn new_optional_argument_is_compatible_new_mandatory_one_breaks_old_clients() {
    assert_changes(
        "{ 'command': 'c', 'data': { 'a': 'int' } }",
        "{ 'command': 'c', 'data': { 'a': 'int', '*b': 'int', 'm': 'str' } }",
        &[
            (Compatible, "command 'c' argument 'b': added (optional)"),
            (BreaksClients, "command 'c' argument 'm': added (mandatory)"),
        ],
    );
}

#[test]
fn enum_value_in_input_removed_breaks_old_clients_added_is_compatible() {
    assert_changes(
        "{ 'enum': 'Mode', 'data': [ 'a', 'b' ] }\n\
         { 'command': 'c', 'data': { 'mode': 'Mode' } }",
        "{ 'enum': 'Mode', 'data': [ 'a', 'c' ] }\n\
         { 'command': 'c', 'data': { 'mode': 'Mode' } }",
        &[
            (BreaksClients, "type 'Mode' (input): value 'b' removed"),
            (Compatible, "type 'Mode' (input): value 'c' added"),
        ],
    );
}

#[test]
fn enum_value_in_output_added_breaks_old_clients_removed_breaks_old_servers() {
    assert_changes(
        "{ 'enum': 'State', 'data': [ 'on', 'off' ] }\n\
         { 'struct': 'Info', 'data': { 'state': 'State' } }\n\
         { 'command': 'query', 'returns': 'Info' }",
        "{ 'enum': 'State', 'data': [ 'on', 'paused' ] }\n\
         { 'struct': 'Info', 'data': { 'state': 'State' } }\n\
         { 'command': 'query', 'returns': 'Info' }",
        &[
            (BreaksServers, "type 'State' (output): value 'off' removed"),
            (BreaksClients, "type 'State' (output): value 'paused' added"),
        ],
    );
}

#[test]
fn alternate_branch_in_input_removed_breaks_old_clients_added_is_compatible() {
    assert_changes(
        "{ 'struct': 'Opts', 'data': { 'x': 'int' } }\n\
         { 'alternate': 'Ref', 'data': { 'inline': 'Opts', 'name': 'str' } }\n\
         { 'command': 'c', 'data': { 'r': 'Ref' } }",
        "{ 'struct': 'Opts', 'data': { 'x': 'int' } }\n\
         { 'alternate': 'Ref', 'data': { 'inline': 'Opts', 'none': 'null' } }\n\
         { 'command': 'c', 'data': { 'r': 'Ref' } }",
        &[
            (
                BreaksClients,
                "type 'Ref' (input): alternative 'str' removed",
            ),
            (Compatible, "type 'Ref' (input): alternative 'null' added"),
        ],
    );
}

#[test]
fn integer_width_narrowed_in_input_or_widened_in_output_breaks_old_clients() {
    assert_changes(
        "{ 'struct': 'Info', 'data': { 'count': 'uint8', 'size': 'int32' } }\n\
         { 'command': 'c', 'data': { 'n': 'int', 'w': 'int8', 'k': 'str' }, 'returns': 'Info' }",
        "{ 'struct': 'Info', 'data': { 'count': 'uint32', 'size': 'int16' } }\n\
         { 'command': 'c', 'data': { 'n': 'int32', 'w': 'int', 'k': 'int' }, 'returns': 'Info' }",
        &[
            (
                BreaksClients,
                "command 'c' argument 'n': type narrowed from 'int' to 'int32'",
            ),
            (
                Compatible,
                "command 'c' argument 'w': type widened from 'int8' to 'int'",
            ),
            (
                BreaksBoth,
                "command 'c' argument 'k': type changed from 'str' to 'int'",
            ),
            (
                BreaksClients,
                "command 'c' returns 'count': type widened from 'uint8' to 'uint32'",
            ),
            (
                BreaksServers,
                "command 'c' returns 'size': type narrowed from 'int32' to 'int16'",
            ),
        ],
    );
}

#[test]
fn struct_member_made_mandatory_in_input_breaks_old_clients() {
    assert_changes(
        "{ 'struct': 'Cfg', 'data': { '*level': 'int' } }\n\
         { 'command': 'set', 'data': { 'cfg': 'Cfg' } }",
        "{ 'struct': 'Cfg', 'data': { 'level': 'int' } }\n\
         { 'command': 'set', 'data': { 'cfg': 'Cfg' } }",
        &[(
            BreaksClients,
            "type 'Cfg' (input) member 'level': now mandatory",
        )],
    );
}

#[test]
fn returned_member_removed_or_made_optional_breaks_old_clients() {
    assert_changes(
        "{ 'struct': 'Info', 'data': { 'a': 'int', 'b': 'int', '*c': 'int' } }\n\
         { 'command': 'query', 'returns': 'Info' }",
        "{ 'struct': 'Info', 'data': { '*b': 'int' } }\n\
         { 'command': 'query', 'returns': 'Info' }",
        &[
            (BreaksClients, "command 'query' returns 'a': removed"),
            (BreaksClients, "command 'query' returns 'b': now optional"),
            // Old clients already cope with its absence.
            (
                Compatible,
                "command 'query' returns 'c': removed (was optional)",
            ),
        ],
    );
}

#[test]
fn returned_member_made_or_added_mandatory_breaks_old_servers() {
    assert_changes(
        "{ 'struct': 'Info', 'data': { '*a': 'int' } }\n\
         { 'command': 'query', 'returns': ['Info'] }",
        "{ 'struct': 'Info', 'data': { 'a': 'int', 'b': 'int', '*c': 'int' } }\n\
         { 'command': 'query', 'returns': ['Info'] }",
        &[
            (
                BreaksServers,
                "type 'Info' (output) member 'a': now mandatory",
            ),
            (
                BreaksServers,
                "type 'Info' (output) member 'b': added (mandatory)",
            ),
            (
                Compatible,
                "type 'Info' (output) member 'c': added (optional)",
            ),
        ],
    );
}

#[test]
fn event_member_removed_or_made_optional_breaks_old_clients() {
    assert_changes(
        "{ 'event': 'MOVED', 'data': { 'id': 'str', 'to': 'int' } }",
        "{ 'event': 'MOVED', 'data': { '*to': 'int' } }",
        &[
            (BreaksClients, "event 'MOVED' data 'id': removed"),
            (BreaksClients, "event 'MOVED' data 'to': now optional"),
        ],
    );
}

/// Implicit argument types, renamed types, a member moved into a base
/// and a renamed array element: the wire is the same, so no change.
#[test]
fn type_names_and_bases_do_not_matter() {
    assert_changes(
        "{ 'struct': 'Addr', 'data': { 'host': 'str', 'port': 'uint16' } }\n\
         { 'struct': 'Info', 'data': { 'id': 'str', 'addrs': ['Addr'] } }\n\
         { 'command': 'c', 'data': { 'id': 'str', 'addr': 'Addr' }, 'returns': 'Info' }",
        "{ 'struct': 'Endpoint', 'data': { 'host': 'str', 'port': 'uint16' } }\n\
         { 'struct': 'Base', 'data': { 'id': 'str' } }\n\
         { 'struct': 'Details', 'base': 'Base', 'data': { 'addrs': ['Endpoint'] } }\n\
         { 'struct': 'CArgs', 'base': 'Base', 'data': { 'addr': 'Endpoint' } }\n\
         { 'command': 'c', 'data': 'CArgs', 'returns': 'Details' }",
        &[],
    );
}

#[test]
fn union_branch_changes_name_the_tag_value() {
    let old = "{ 'enum': 'Kind', 'data': [ 'file', 'net' ] }\n\
               { 'struct': 'FileOpts', 'data': { 'path': 'str', '*ro': 'bool' } }\n\
               { 'struct': 'NetOpts', 'data': { 'host': 'str' } }\n\
               { 'union': 'Dev', 'base': { 'id': 'str', 'kind': 'Kind' },\n\
                 'discriminator': 'kind',\n\
                 'data': { 'file': 'FileOpts', 'net': 'NetOpts' } }\n\
               { 'command': 'dev-add', 'boxed': true, 'data': 'Dev' }";
    let new = old.replace(
        "'path': 'str', '*ro': 'bool'",
        "'*ro': 'bool', 'lock': 'bool'",
    );
    assert_changes(
        old,
        &new,
        &[
            (
                BreaksClients,
                "command 'dev-add' argument '[kind=file].path': removed",
            ),
            (
                BreaksClients,
                "command 'dev-add' argument '[kind=file].lock': added (mandatory)",
            ),
        ],
    );
}

#[test]
fn deprecated_and_unstable_are_feature_changes_other_features_compatible() {
    assert_changes(
        "{ 'command': 'c', 'data': { '*a': { 'type': 'int', 'features': [ 'unstable' ] } } }",
        "{ 'command': 'c', 'data': { '*a': 'int' }, 'features': [ 'deprecated', 'fast' ] }",
        &[
            (Feature, "command 'c': feature 'deprecated' added"),
            (Compatible, "command 'c': feature 'fast' added"),
            (
                Feature,
                "command 'c' argument 'a': feature 'unstable' removed",
            ),
        ],
    );
}

#[test]
fn changes_under_a_condition_say_so() {
    assert_changes(
        "{ 'enum': 'Mode', 'data': [ 'a', { 'name': 'b', 'if': 'CONFIG_B' } ] }\n\
         { 'command': 'c', 'data': { 'm': 'Mode', '*x': 'int' }, 'if': 'CONFIG_C' }\n\
         { 'command': 'd' }",
        "{ 'enum': 'Mode', 'data': [ 'a' ] }\n\
         { 'command': 'c', 'data': { 'm': 'Mode' }, 'if': 'CONFIG_C' }\n\
         { 'command': 'd', 'if': 'CONFIG_D' }",
        &[
            (
                BreaksClients,
                "command 'c' argument 'x': removed (was optional) [if CONFIG_C]",
            ),
            (
                BreaksClients,
                "type 'Mode' (input): value 'b' removed [if CONFIG_B]",
            ),
            (
                BreaksClients,
                "command 'd': condition changed from none to 'CONFIG_D'",
            ),
        ],
    );
}

#[test]
fn a_type_used_both_ways_is_judged_per_direction() {
    assert_changes(
        "{ 'struct': 'Limits', 'data': { 'max': 'int' } }\n\
         { 'command': 'set-limits', 'data': { 'l': 'Limits' } }\n\
         { 'command': 'get-limits', 'returns': 'Limits' }",
        "{ 'struct': 'Limits', 'data': { '*max': 'int' } }\n\
         { 'command': 'set-limits', 'data': { 'l': 'Limits' } }\n\
         { 'command': 'get-limits', 'returns': 'Limits' }",
        &[
            (
                BreaksServers,
                "type 'Limits' (input) member 'max': now optional",
            ),
            (
                BreaksClients,
                "command 'get-limits' returns 'max': now optional",
            ),
        ],
    );
}

#[test]
fn recursive_types_are_compared_once() {
    assert_changes(
        "{ 'struct': 'Node', 'data': { 'name': 'str', '*children': ['Node'] } }\n\
         { 'command': 'tree', 'returns': 'Node' }",
        "{ 'struct': 'Node', 'data': { '*children': ['Node'] } }\n\
         { 'command': 'tree', 'returns': 'Node' }",
        &[
            (BreaksClients, "command 'tree' returns 'name': removed"),
            (BreaksClients, "type 'Node' (output) member 'name': removed"),
        ],
    );
}

#[test]
fn losing_allow_oob_breaks_old_clients() {
    assert_changes(
        "{ 'command': 'c', 'allow-oob': true }\n{ 'command': 'd' }",
        "{ 'command': 'c' }\n{ 'command': 'd', 'allow-preconfig': true }",
        &[
            (BreaksClients, "command 'c': 'allow-oob' now false"),
            (Compatible, "command 'd': 'allow-preconfig' now true"),
        ],
    );
}

#[test]
fn a_type_becoming_one_branch_of_an_alternate_is_widened() {
    assert_changes(
        "{ 'struct': 'Opts', 'data': { 'x': 'int' } }\n\
         { 'command': 'c', 'data': { 'o': 'Opts' } }",
        "{ 'struct': 'Opts', 'data': { 'x': 'int' } }\n\
         { 'alternate': 'OptsOrName', 'data': { 'opts': 'Opts', 'name': 'str' } }\n\
         { 'command': 'c', 'data': { 'o': 'OptsOrName' } }",
        &[(
            Compatible,
            "command 'c' argument 'o': alternative 'str' added",
        )],
    );
}

#[test]
fn types_no_command_uses_are_listed_as_compatible() {
    assert_changes(
        "{ 'enum': 'Old', 'data': [ 'a' ] }",
        "{ 'struct': 'New', 'data': { 'a': 'int' } }",
        &[
            (
                Compatible,
                "type 'Old': removed (no command or event uses it)",
            ),
            (
                Compatible,
                "type 'New': added (no command or event uses it)",
            ),
        ],
    );
}

#[test]
fn json_output_carries_class_subject_direction_and_path() {
    let report = report(
        "{ 'command': 'c', 'data': { 'a': 'int' }, 'if': 'CONFIG_C' }",
        "{ 'command': 'c', 'data': { }, 'if': 'CONFIG_C' }",
    );
    let json = diff::to_json(&report);
    assert_eq!(json["breaks-clients"], true);
    assert_eq!(json["breaks-servers"], false);
    assert_eq!(json["counts"]["breaks-clients"], 1);
    let change = &json["changes"][0];
    assert_eq!(change["class"], "breaks-clients");
    assert_eq!(change["subject"]["meta"], "command");
    assert_eq!(change["subject"]["name"], "c");
    assert_eq!(change["direction"], "input");
    assert_eq!(change["path"], "a");
    assert_eq!(change["change"], "removed");
    assert_eq!(change["item"], "member");
    assert_eq!(change["optional"], false);
    assert_eq!(change["condition"], "CONFIG_C");
    assert_eq!(
        change["text"],
        "command 'c' argument 'a': removed [if CONFIG_C]"
    );
}

/// `qapi-gen diff`'s exit status follows `--for`; `--json` prints the
/// JSON report; a schema that does not load is status 2 with QEMU's
/// message.
#[test]
fn cli_exit_status_follows_the_side_asked_for() {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).expect("cannot write a schema");
        path
    };
    // Only old clients break: an argument made mandatory.
    let old = write("old.json", "{ 'command': 'c', 'data': { '*a': 'int' } }");
    let new = write("new.json", "{ 'command': 'c', 'data': { 'a': 'int' } }");
    let bad = write("bad.json", "{ 'command': 'c', 'data': { 'a': 'Nope' } }");
    let status = |args: &[&str], old: &Path, new: &Path| {
        let done = run(
            Command::new(qapi_gen())
                .arg("diff")
                .args(args)
                .arg(old)
                .arg(new),
            Duration::from_secs(60),
        )
        .expect("cannot run qapi-gen diff");
        assert!(!done.timed_out, "qapi-gen diff {args:?} timed out");
        (
            done.status,
            String::from_utf8_lossy(&done.stdout).into_owned(),
            String::from_utf8_lossy(&done.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = status(&[], &old, &new);
    assert_eq!(code, Some(1), "default --for both:\n{stdout}");
    assert!(
        stdout.contains("Breaks old clients against a new server (1):\n  command 'c' argument 'a': now mandatory\n"),
        "{stdout}"
    );
    assert_eq!(status(&["--for", "client"], &old, &new).0, Some(1));
    assert_eq!(status(&["--for", "server"], &old, &new).0, Some(0));
    // The reverse upgrade breaks old servers only.
    assert_eq!(status(&["--for", "client"], &new, &old).0, Some(0));
    assert_eq!(status(&["--for", "server"], &new, &old).0, Some(1));
    assert_eq!(status(&[], &old, &old).0, Some(0));

    let (code, stdout, _) = status(&["--json"], &old, &new);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    assert_eq!(json["changes"][0]["change"], "now-mandatory");
    let (_, same, _) = status(&["--format", "json"], &old, &new);
    assert_eq!(same, stdout);

    let (code, stdout, stderr) = status(&[], &old, &bad);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stderr.contains("uses unknown type 'Nope'"),
        "not QEMU's message: {stderr}"
    );
}

/// A member every branch of a union had, moved into the union's base,
/// and an inline base turned into a named one: the same wire.
#[test]
fn members_moved_from_branches_into_the_base_are_no_change() {
    assert_changes(
        "{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }\n\
         { 'struct': 'A', 'data': { 'id': 'str', 'x': 'int' } }\n\
         { 'struct': 'B', 'data': { 'id': 'str' } }\n\
         { 'union': 'U', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',\n\
           'data': { 'a': 'A', 'b': 'B' } }\n\
         { 'command': 'c', 'boxed': true, 'data': 'U' }",
        "{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }\n\
         { 'struct': 'UBase', 'data': { 'kind': 'Kind', 'id': 'str' } }\n\
         { 'struct': 'A', 'data': { 'x': 'int' } }\n\
         { 'union': 'U', 'base': 'UBase', 'discriminator': 'kind',\n\
           'data': { 'a': 'A' } }\n\
         { 'command': 'c', 'boxed': true, 'data': 'U' }",
        &[],
    );
}

#[test]
fn a_member_made_conditional_is_removed_from_some_builds() {
    assert_changes(
        "{ 'command': 'c', 'data': { 'a': 'int' }, 'returns': 'Info' }\n\
         { 'struct': 'Info', 'data': { 'b': 'int' } }",
        "{ 'struct': 'Args', 'data': { 'a': { 'type': 'int', 'if': 'CONFIG_A' } } }\n\
         { 'command': 'c', 'boxed': true, 'data': 'Args', 'returns': 'Info' }\n\
         { 'struct': 'Info', 'data': { 'b': { 'type': 'int', 'if': 'CONFIG_B' } } }",
        &[
            (
                BreaksClients,
                "command 'c' argument 'a': condition changed from none to 'CONFIG_A'",
            ),
            (
                BreaksClients,
                "command 'c' returns 'b': condition changed from none to 'CONFIG_B'",
            ),
        ],
    );
}
