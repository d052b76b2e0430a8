//! Real Linux guests for the tests: a tiny guest built from Debian
//! packages ([`image`]), booted under QEMU 7.2 with TCG, with the test's
//! `-netdev`s on `virtio-net-pci` NICs.
//!
//! The guest talks over its serial console only. At boot its `/init`
//! loads the virtio modules, lists its NICs, runs the boot script the
//! test gave (base64 on the kernel command line), then reads commands
//! from the console one line at a time and prints each one's output
//! between markers (see `guest/init.sh`). So a test can drive a running
//! guest step by step ([`Guest::run`], which waits for the command's end
//! marker), and start things in the background (`ping ... >/tmp/ping.log
//! &`) whose progress later commands read (`grep -c ... /tmp/ping.log`).
//! Output of background work goes to files, never to the console, so it
//! cannot split a command's result.
//!
//! Every wait has a limit, and a failure says which step failed and shows
//! the guest's last serial lines. The QEMU process is killed when the
//! [`Guest`] is dropped.
//!
//! KVM is not used: `/dev/kvm` opens on these machines but guests hung
//! under it before the kernel printed anything; TCG boots in about 10 s.

pub mod image;

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub use image::Image;

use crate::qemu::QEMU;

/// How many serial lines a failure message shows.
const TAIL_LINES: usize = 40;

/// The longest command [`Guest::run`] sends: the guest reads it as one
/// line of its tty, whose canonical mode keeps at most 4095 bytes, and
/// base64 makes it a third longer.
const MAX_COMMAND: usize = 2_400;

/// The longest boot script: the kernel keeps 2048 bytes of command line.
const MAX_BOOT_SCRIPT: usize = 1_200;

/// Default limit for the boot (kernel, modules, boot script). Generous:
/// on a busy 2-core machine TCG boots take many times their idle 10 s.
pub const BOOT_LIMIT: Duration = Duration::from_secs(300);

/// The Debian packages a guest needs on the host.
pub const PACKAGES: [&str; 2] = ["qemu-system-x86", "busybox-static"];

/// What to boot.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    /// A name for messages (`"g1"`).
    pub name: String,
    /// One `-netdev` text per NIC, without `id=` (the harness names them
    /// `n0`, `n1`, ... and puts each on a `virtio-net-pci`).
    pub netdevs: Vec<String>,
    /// A shell script run at boot, before commands are read (addresses,
    /// routes). Short: it travels on the kernel command line.
    pub boot_script: String,
    /// How long the boot may take.
    pub boot_limit: Duration,
}

impl GuestConfig {
    /// A guest named `name` with these `-netdev`s and boot script.
    pub fn new(name: &str, netdevs: Vec<String>, boot_script: &str) -> GuestConfig {
        GuestConfig {
            name: name.to_owned(),
            netdevs,
            boot_script: boot_script.to_owned(),
            boot_limit: BOOT_LIMIT,
        }
    }
}

/// Which step of a guest test failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Kernel boot up to the init script, and the boot script.
    Boot,
    /// Loading the virtio modules until the NICs appear.
    ModuleLoad,
    /// A step the test names (`"lease"`, `"transfer"`, `"ping g1 -> g2"`).
    Named(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Boot => f.write_str("boot"),
            Step::ModuleLoad => f.write_str("module load"),
            Step::Named(name) => f.write_str(name),
        }
    }
}

impl From<&str> for Step {
    fn from(name: &str) -> Step {
        Step::Named(name.to_owned())
    }
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The step did not end within its limit.
    TimedOut(Duration),
    /// The command exited with this status (its output is in the message).
    Status(i32, String),
    /// The guest's QEMU exited.
    Exited(String),
    /// The guest or the harness reported a problem.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::TimedOut(limit) => write!(f, "no result within {limit:?}"),
            Failure::Status(rc, output) => write!(f, "exit status {rc}; output:\n{output}"),
            Failure::Exited(how) => write!(f, "QEMU exited ({how})"),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

/// A failed step of a guest, with the guest's last serial lines.
#[derive(Debug, thiserror::Error)]
#[error(
    "guest {guest}: step '{step}' failed: {failure}\n\
     --- last serial lines of {guest} ---\n{tail}\n--- QEMU stderr ---\n{stderr}"
)]
pub struct GuestError {
    /// The guest's name.
    pub guest: String,
    /// The step.
    pub step: Step,
    /// What went wrong.
    pub failure: Failure,
    /// The last lines the guest printed.
    pub tail: String,
    /// What QEMU wrote to stderr.
    pub stderr: String,
}

/// What the serial reader has collected.
#[derive(Default)]
struct Serial {
    lines: Vec<String>,
    /// The reader saw the end of QEMU's output.
    closed: bool,
}

type Shared = Arc<(Mutex<Serial>, Condvar)>;

/// A running guest.
pub struct Guest {
    name: String,
    child: Child,
    stdin: ChildStdin,
    serial: Shared,
    /// Where the scan for command results resumes.
    cursor: usize,
    next_command: u64,
    /// Interface name of each NIC, in the order of [`GuestConfig::netdevs`].
    interfaces: Vec<String>,
    dir: tempfile::TempDir,
}

/// The image, built once per process (and once per machine, see
/// [`image`]); `None` after a loud `SKIPPED` when a package is missing
/// outside CI.
pub fn image() -> Option<&'static Image> {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    // Asked by every caller, so that each test that cannot run records
    // its own skip (the summary of `cargo xtask ci` counts them).
    if !crate::packages_installed("real guests", &PACKAGES) {
        return None;
    }
    Some(IMAGE.get_or_init(|| {
        image::build_or_reuse(&target_dir())
            .unwrap_or_else(|err| panic!("cannot build the guest image: {err}"))
    }))
}

/// The workspace's Cargo target directory.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::workspace_root().join("target"),
    }
}

/// A MAC address per NIC, unique in the process: 52:54:00:GG:00:NN.
fn mac(guest: u8, nic: usize) -> String {
    format!("52:54:00:{guest:02x}:00:{nic:02x}")
}

impl Guest {
    /// Boots a guest from `image` and waits until it reads commands.
    pub fn boot(image: &Image, config: &GuestConfig) -> Result<Guest, Box<GuestError>> {
        static GUESTS: AtomicU8 = AtomicU8::new(1);
        let number = GUESTS.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let failure = |step: Step, failure: Failure| {
            Box::new(GuestError {
                guest: config.name.clone(),
                step,
                failure,
                tail: String::new(),
                stderr: String::new(),
            })
        };
        if config.boot_script.len() > MAX_BOOT_SCRIPT {
            return Err(failure(
                Step::Boot,
                Failure::Other(format!(
                    "boot script of {} bytes: at most {MAX_BOOT_SCRIPT} fit on the kernel command line",
                    config.boot_script.len()
                )),
            ));
        }
        let append = format!(
            "console=ttyS0 quiet panic=-1 testnics={} testscript={}",
            config.netdevs.len(),
            base64(config.boot_script.as_bytes())
        );
        let macs: Vec<String> = (0..config.netdevs.len()).map(|n| mac(number, n)).collect();
        let mut command = Command::new(QEMU);
        command
            .args(["-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults"])
            .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
            .arg("-qmp")
            .arg(format!(
                "unix:{},server=on,wait=off",
                dir.path().join("qmp.sock").display()
            ))
            .arg("-kernel")
            .arg(&image.kernel)
            .arg("-initrd")
            .arg(&image.initramfs)
            .arg("-append")
            .arg(&append);
        for (n, netdev) in config.netdevs.iter().enumerate() {
            command
                .arg("-netdev")
                .arg(format!("{netdev},id=n{n}"))
                .arg("-device")
                .arg(format!(
                    "virtio-net-pci,netdev=n{n},mac={},romfile=",
                    macs[n]
                ));
        }
        let stderr = fs::File::create(dir.path().join("stderr")).expect("a file for QEMU's stderr");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|err| {
                failure(
                    Step::Boot,
                    Failure::Other(format!("cannot start {QEMU}: {err}")),
                )
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let serial: Shared = Arc::default();
        read_serial(stdout, serial.clone());
        let mut guest = Guest {
            name: config.name.clone(),
            child,
            stdin,
            serial,
            cursor: 0,
            next_command: 1,
            interfaces: Vec::new(),
            dir,
        };
        let end = guest.wait_line(Step::Boot, config.boot_limit, |line| {
            line == "@@GUEST-READY" || line == "@@GUEST-MODULES-FAILED"
        })?;
        let lines = guest.lines();
        if lines[end] == "@@GUEST-MODULES-FAILED" {
            return Err(guest.error(
                Step::ModuleLoad,
                Failure::Other("no NIC appeared after two insmod passes".into()),
            ));
        }
        let nics: Vec<(String, String)> = lines[..end]
            .iter()
            .filter_map(|line| {
                let mut words = line.strip_prefix("@@NIC ")?.split_whitespace();
                Some((words.next()?.to_owned(), words.next()?.to_owned()))
            })
            .collect();
        for mac in macs {
            match nics.iter().find(|(_, m)| *m == mac) {
                Some((name, _)) => guest.interfaces.push(name.clone()),
                None => {
                    return Err(guest.error(
                        Step::ModuleLoad,
                        Failure::Other(format!("no interface with MAC {mac}")),
                    ))
                }
            }
        }
        let script_end = lines[..end]
            .iter()
            .find_map(|line| line.strip_prefix("@@BOOT-SCRIPT-END "));
        if script_end != Some("0") {
            return Err(guest.error(
                Step::Boot,
                Failure::Other(format!("the boot script ended with status {script_end:?}")),
            ));
        }
        guest.cursor = end + 1;
        Ok(guest)
    }

    /// The interface name (`eth0`) of NIC `n`, in the order of
    /// [`GuestConfig::netdevs`].
    pub fn interface(&self, n: usize) -> &str {
        &self.interfaces[n]
    }

    /// The guest QEMU's QMP socket (`-qmp unix:...,server=on,wait=off`).
    pub fn qmp_socket(&self) -> PathBuf {
        self.dir.path().join("qmp.sock")
    }

    /// Runs `command` (a shell script) in the guest as step `step` and
    /// returns what it printed; an error if it exits with a status other
    /// than 0 or has not ended within `limit`. Commands run one at a time;
    /// one left running in the background must send its output to a file.
    pub fn run(
        &mut self,
        step: impl Into<Step>,
        command: &str,
        limit: Duration,
    ) -> Result<String, Box<GuestError>> {
        let step = step.into();
        let (rc, output) = self.run_status(step.clone(), command, limit)?;
        if rc != 0 {
            return Err(self.error(step, Failure::Status(rc, output)));
        }
        Ok(output)
    }

    /// [`Guest::run`] that also returns the output of a failing command,
    /// with its exit status.
    pub fn run_status(
        &mut self,
        step: impl Into<Step>,
        command: &str,
        limit: Duration,
    ) -> Result<(i32, String), Box<GuestError>> {
        let step = step.into();
        if command.len() > MAX_COMMAND {
            return Err(self.error(
                step,
                Failure::Other(format!(
                    "command of {} bytes: at most {MAX_COMMAND} fit on a console line",
                    command.len()
                )),
            ));
        }
        let id = self.next_command;
        self.next_command += 1;
        let line = format!("{id} {}\n", base64(command.as_bytes()));
        if let Err(err) = self.stdin.write_all(line.as_bytes()) {
            return Err(self.error(
                step,
                Failure::Other(format!("cannot write to the console: {err}")),
            ));
        }
        let begin = format!("@@BEGIN {id}");
        let end_prefix = format!("@@END {id} ");
        let end = self.wait_line(step.clone(), limit, |line| line.starts_with(&end_prefix))?;
        let lines = self.lines();
        let start = lines[..end]
            .iter()
            .rposition(|line| *line == begin)
            .unwrap_or(end);
        let body = lines[(start + 1).min(end)..end].join("\n");
        let rc = lines[end][end_prefix.len()..].trim().parse().unwrap_or(-1);
        self.cursor = end + 1;
        Ok((rc, body))
    }

    /// Ends the guest: stops reading commands, powers off, and returns
    /// every line it printed.
    pub fn finish(mut self, limit: Duration) -> Result<Vec<String>, Box<GuestError>> {
        // The guest may be gone already; the wait below tells.
        let _ = self.stdin.write_all(b"exit\n");
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(50)),
                _ => return Err(self.error("power off".into(), Failure::TimedOut(limit))),
            }
        }
        // The reader thread sees the end of the pipe right after QEMU exits.
        let (lock, ready) = &*self.serial;
        let serial = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (serial, _) = ready
            .wait_timeout_while(serial, Duration::from_secs(10), |s| !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        Ok(serial.lines.clone())
    }

    /// Every serial line so far.
    fn lines(&self) -> Vec<String> {
        let serial = self.serial.0.lock().unwrap_or_else(|e| e.into_inner());
        serial.lines.clone()
    }

    /// The index of the first line from the cursor on that `wanted`
    /// accepts, waiting for it at most `limit`.
    fn wait_line(
        &mut self,
        step: Step,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<usize, Box<GuestError>> {
        let end = Instant::now() + limit;
        let mut scanned = self.cursor;
        loop {
            let closed = {
                let (lock, ready) = &*self.serial;
                let serial = lock.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(found) = serial.lines[scanned.min(serial.lines.len())..]
                    .iter()
                    .position(|line| wanted(line))
                {
                    return Ok(scanned + found);
                }
                scanned = serial.lines.len();
                if serial.closed {
                    true
                } else {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        drop(serial);
                        return Err(self.error(step, Failure::TimedOut(limit)));
                    }
                    let _ = ready.wait_timeout(serial, left.min(Duration::from_secs(1)));
                    false
                }
            };
            if closed {
                let how = match self.child.wait() {
                    Ok(status) => status.to_string(),
                    Err(err) => err.to_string(),
                };
                return Err(self.error(step, Failure::Exited(how)));
            }
        }
    }

    /// A [`GuestError`] for `step` with the last serial lines.
    fn error(&self, step: Step, failure: Failure) -> Box<GuestError> {
        let lines = self.lines();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        Box::new(GuestError {
            guest: self.name.clone(),
            step,
            failure,
            tail,
            stderr: fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default(),
        })
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // It may have exited already; `wait` reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads QEMU's stdout (the serial console) into lines, without the
/// terminal's carriage returns, until the pipe closes.
fn read_serial(mut stdout: impl Read + Send + 'static, serial: Shared) {
    thread::spawn(move || {
        let mut partial: VecDeque<u8> = VecDeque::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            let (lock, ready) = &*serial;
            let mut serial = lock.lock().unwrap_or_else(|e| e.into_inner());
            if n == 0 {
                if !partial.is_empty() {
                    let rest: Vec<u8> = partial.drain(..).collect();
                    serial.lines.push(clean(&rest));
                }
                serial.closed = true;
                ready.notify_all();
                return;
            }
            partial.extend(&buf[..n]);
            while let Some(newline) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=newline).collect();
                serial.lines.push(clean(&line[..line.len() - 1]));
            }
            ready.notify_all();
        }
    });
}

/// A console line as text, without carriage returns.
fn clean(line: &[u8]) -> String {
    String::from_utf8_lossy(line).replace('\r', "")
}

/// Standard base64 (with padding), as busybox's `base64 -d` reads it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }
}
