//! A real QEMU 7.2 as a QMP peer, for the tests that compare with it:
//! `qemu-system-x86_64 -M none -nodefaults -display none` with its QMP
//! monitor on a unix socket in a temporary directory, killed when dropped
//! (also when a test panics).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU binary (Debian's `qemu-system-x86`, which `cargo xtask ci`
/// installs).
pub const QEMU: &str = "qemu-system-x86_64";

/// How long QEMU may take to open its QMP socket.
pub const START_LIMIT: Duration = Duration::from_secs(60);

/// A running QEMU.
pub struct Qemu {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        // It may have exited already; `wait` reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether QEMU is installed; if not, panics in CI and prints `SKIPPED`
/// elsewhere.
pub fn installed() -> bool {
    match Command::new(QEMU)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!(
            "`{QEMU} --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let why = format!(
                "{QEMU} not installed (Debian package qemu-system-x86; `cargo xtask ci` installs it)"
            );
            assert!(!crate::in_ci(), "{why}; CI is set, so this is an error");
            crate::skipped(crate::SkipReason::NotInstalled(QEMU), &why);
            false
        }
        Err(err) => panic!("cannot run {QEMU}: {err}"),
    }
}

impl Qemu {
    /// Starts QEMU and waits for its QMP socket; `None` (after a loud
    /// `SKIPPED`) when QEMU is not installed outside CI.
    pub fn start() -> Option<Qemu> {
        Qemu::start_with(&[])
    }

    /// [`Qemu::start`] with more arguments (`-netdev ...`, say).
    pub fn start_with(extra: &[String]) -> Option<Qemu> {
        if !installed() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("qmp.sock");
        let stderr = fs::File::create(dir.path().join("stderr")).expect("a file for QEMU's stderr");
        let child = Command::new(QEMU)
            .args(["-M", "none", "-nodefaults", "-display", "none", "-qmp"])
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {QEMU}: {err}"));
        let mut qemu = Qemu { child, socket, dir };
        let deadline = Instant::now() + START_LIMIT;
        while !qemu.socket.exists() {
            if let Ok(Some(status)) = qemu.child.try_wait() {
                panic!("{QEMU} exited ({status}): {}", qemu.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "{QEMU} did not open its QMP socket within {START_LIMIT:?}: {}",
                qemu.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(qemu)
    }

    /// Waits until QEMU has finished starting: it opens its QMP socket
    /// before it makes its `-netdev`s, but greets only from its main
    /// loop, after all of them.
    pub fn wait_ready(&self) {
        use std::io::BufRead;
        let stream = std::os::unix::net::UnixStream::connect(&self.socket)
            .unwrap_or_else(|e| panic!("cannot connect to QEMU's QMP socket: {e}"));
        stream
            .set_read_timeout(Some(START_LIMIT))
            .expect("a read timeout");
        let mut greeting = String::new();
        io::BufReader::new(stream)
            .read_line(&mut greeting)
            .unwrap_or_else(|e| panic!("no QMP greeting from QEMU ({e}): {}", self.stderr()));
        assert!(
            greeting.contains("\"QMP\""),
            "not a QMP greeting: {greeting}"
        );
    }

    /// The QMP socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What QEMU wrote to stderr so far, for messages.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}
