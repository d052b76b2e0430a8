//! The real-guest harness itself (`qapi_tests::guest`), on one booted
//! guest: command output comes back whole (also without a final newline),
//! and a failing or slow step is reported with its name, its status or
//! limit, and the guest's last serial lines. The guest's NIC is QEMU's
//! own `-netdev user` (slirp), which needs nothing outside QEMU.

use std::time::Duration;

use qapi_tests::guest::{self, Failure, Guest, GuestConfig, Step};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn commands_report_output_status_and_time_limits() {
    let Some(image) = guest::image() else { return };
    let config = GuestConfig::new(
        "harness",
        vec!["user".to_owned()],
        "echo boot-script-ran >/tmp/boot",
    );
    let mut guest = Guest::boot(image, &config).unwrap_or_else(|e| panic!("{e}"));

    let out = guest
        .run("output", "cat /tmp/boot; printf 'two\\nlines'", LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "boot-script-ran\ntwo\nlines");
    let interface = guest.interface(0).to_owned();
    let mac = guest
        .run(
            "mac",
            &format!("cat /sys/class/net/{interface}/address"),
            LIMIT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(mac.starts_with("52:54:00:"), "{mac}");

    let err = guest
        .run("failing step", "echo why; exit 3", LIMIT)
        .expect_err("exit 3 fails");
    assert_eq!(err.step, Step::Named("failing step".into()));
    assert_eq!(err.failure, Failure::Status(3, "why".into()));
    let text = err.to_string();
    assert!(
        text.starts_with("guest harness: step 'failing step' failed: exit status 3")
            && text.contains("--- last serial lines of harness ---")
            && text.contains("@@END"),
        "{text}"
    );

    let err = guest
        .run("slow step", "sleep 5", Duration::from_millis(200))
        .expect_err("too slow");
    assert_eq!(err.failure, Failure::TimedOut(Duration::from_millis(200)));
    // The guest runs commands one at a time: the next result comes after
    // the slow one ends, and is not mistaken for it.
    let out = guest
        .run("after the slow step", "echo next", LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "next");

    let lines = guest.finish(LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(lines.iter().any(|l| l == "@@GUEST-DONE"), "{lines:?}");
}
