//! What generated code must refuse at compile time (trybuild; expected
//! compiler output in `tests/ui/*.stderr`, rewritten with
//! `TRYBUILD=overwrite cargo test -p qapi-generated-tests --test compile_fail`).

#[test]
fn generated_code_refuses() {
    let t = trybuild::TestCases::new();
    // A struct literal without a mandatory member.
    t.compile_fail("tests/ui/missing_member.rs");
    // A branch handler that forgets a branch of the union.
    t.compile_fail("tests/ui/missing_branch.rs");
    // A deprecated command under deny(deprecated), client and server side.
    t.compile_fail("tests/ui/deprecated_command.rs");
}
