//! The guest's kernel and initramfs, built from Debian packages once per
//! machine and kept under the workspace's `target/` directory.
//!
//! * Kernel: `linux-image-cloud-amd64` depends on the current
//!   `linux-image-VERSION-cloud-amd64`; that package is fetched with
//!   `apt-get download` (after an `apt-get update` when the first try
//!   fails: a fresh machine has no package lists) and unpacked with
//!   `dpkg-deb -x`, never installed. Its virtio modules are not built in,
//!   so the `.ko` files go into the initramfs.
//! * Userland: the static busybox of `busybox-static`, whose own `cpio -o
//!   -H newc` packs the initramfs.
//!
//! A file lock serialises builders (test binaries may run at once), and a
//! stamp naming the kernel and the hash of what goes into the initramfs
//! tells a finished image from a half-built or outdated one.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The metapackage whose dependency names the current cloud kernel.
const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// Where the static busybox of `busybox-static` is.
pub const BUSYBOX: &str = "/bin/busybox";

/// The modules the guest loads, in the order of its first pass.
pub const MODULES: [&str; 8] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

const INIT: &str = include_str!("init.sh");
const UDHCPC_SCRIPT: &str = include_str!("udhcpc.sh");

/// A built guest image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The kernel (`vmlinuz`).
    pub kernel: PathBuf,
    /// The initramfs (a newc cpio archive).
    pub initramfs: PathBuf,
}

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its status and stderr, or why it could not start.
        detail: String,
    },
    /// `apt-cache` named no kernel package.
    #[error("`apt-cache depends {KERNEL_METAPACKAGE}` names no linux-image package (even after apt-get update): {0}")]
    NoKernelPackage(String),
    /// The unpacked package lacks a file the guest needs.
    #[error("{0} is missing from the unpacked kernel package")]
    MissingFile(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

/// The guest image, built first if the cache under `target_dir` lacks it
/// or holds one from another version of the init script.
pub fn build_or_reuse(target_dir: &Path) -> Result<Image, ImageError> {
    let dir = target_dir.join("guest-image");
    fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
    let _lock = Lock::take(&dir.join("lock"))?;
    let image = Image {
        kernel: dir.join("vmlinuz"),
        initramfs: dir.join("initramfs.cpio"),
    };
    let stamp_path = dir.join("stamp");
    let recipe = recipe_hash();
    if let Ok(stamp) = fs::read_to_string(&stamp_path) {
        if stamp.lines().nth(1) == Some(recipe.as_str())
            && image.kernel.exists()
            && image.initramfs.exists()
        {
            return Ok(image);
        }
    }
    let _ = fs::remove_file(&stamp_path);
    let work = dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(io_error("creating the work directory"))?;

    let package = kernel_package()?;
    let deb = download(&package, &work)?;
    let unpacked = work.join("kernel");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let version = package
        .strip_prefix("linux-image-")
        .unwrap_or(&package)
        .to_owned();
    let vmlinuz = unpacked.join(format!("boot/vmlinuz-{version}"));
    if !vmlinuz.exists() {
        return Err(ImageError::MissingFile(format!("boot/vmlinuz-{version}")));
    }
    let modules = unpacked.join(format!("lib/modules/{version}/kernel"));

    let root = work.join("root");
    for sub in ["bin", "dev", "proc", "sys", "tmp", "etc", "lib/modules"] {
        fs::create_dir_all(root.join(sub)).map_err(io_error(format!("creating {sub}")))?;
    }
    copy(Path::new(BUSYBOX), &root.join("bin/busybox"), 0o755)?;
    write(&root.join("init"), INIT, 0o755)?;
    write(&root.join("etc/udhcpc.sh"), UDHCPC_SCRIPT, 0o755)?;
    for module in MODULES {
        let found = find_module(&modules, &format!("{module}.ko"))
            .ok_or_else(|| ImageError::MissingFile(format!("{module}.ko")))?;
        copy(
            &found,
            &root.join(format!("lib/modules/{module}.ko")),
            0o644,
        )?;
    }
    let cpio = work.join("initramfs.cpio");
    // busybox's find and cpio: Debian's cpio package is not always there.
    let archive = fs::File::create(&cpio).map_err(io_error("creating the initramfs"))?;
    run(Command::new("sh")
        .args(["-c", "busybox find . | busybox cpio -o -H newc"])
        .env("PATH", "/bin:/usr/bin")
        .current_dir(&root)
        .stdout(archive))?;

    fs::rename(&vmlinuz, &image.kernel).map_err(io_error("moving the kernel"))?;
    fs::rename(&cpio, &image.initramfs).map_err(io_error("moving the initramfs"))?;
    let _ = fs::remove_dir_all(&work);
    fs::write(&stamp_path, format!("{package}\n{recipe}\n"))
        .map_err(io_error("writing the stamp"))?;
    Ok(image)
}

/// A hash of what goes into the initramfs besides the packages, so a
/// changed init script rebuilds the image.
fn recipe_hash() -> String {
    let mut hasher = DefaultHasher::new();
    (INIT, UDHCPC_SCRIPT, MODULES).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The name of the current cloud kernel package (`linux-image-6.1.0-NN-cloud-amd64`).
fn kernel_package() -> Result<String, ImageError> {
    let ask = || -> Result<Option<String>, ImageError> {
        let out = run(Command::new("apt-cache").args(["depends", KERNEL_METAPACKAGE]))?;
        Ok(out.lines().find_map(|line| {
            let name = line.trim().strip_prefix("Depends: ")?;
            name.starts_with("linux-image-").then(|| name.to_owned())
        }))
    };
    if let Ok(Some(name)) = ask() {
        return Ok(name);
    }
    apt_get_update()?;
    ask()?.ok_or_else(|| ImageError::NoKernelPackage("no Depends line".into()))
}

/// `apt-get download PACKAGE` into `dir`; the `.deb` it wrote.
fn download(package: &str, dir: &Path) -> Result<PathBuf, ImageError> {
    let fetch = || {
        run(Command::new("apt-get")
            .args(["download", package])
            .current_dir(dir))
    };
    if fetch().is_err() {
        apt_get_update()?;
        fetch()?;
    }
    let entries = fs::read_dir(dir).map_err(io_error("listing the download"))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .ok_or_else(|| ImageError::MissingFile(format!("{package}'s .deb")))
}

fn apt_get_update() -> Result<(), ImageError> {
    run(Command::new("apt-get").args(["update", "-q"])).map(drop)
}

/// The file named `name` somewhere under `dir`.
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_module(&path, name) {
                return Some(found);
            }
        } else if entry.file_name() == name {
            return Some(path);
        }
    }
    None
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), ImageError> {
    fs::copy(from, to).map_err(io_error(format!("copying {}", from.display())))?;
    set_mode(to, mode)
}

fn write(to: &Path, text: &str, mode: u32) -> Result<(), ImageError> {
    fs::write(to, text).map_err(io_error(format!("writing {}", to.display())))?;
    set_mode(to, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("chmod {}", path.display())))
}

/// Runs `command` (stdin from `/dev/null`); its stdout as text when it
/// succeeds. Stdout goes wherever the caller pointed it, else it is read.
fn run(command: &mut Command) -> Result<String, ImageError> {
    let shown = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| ImageError::Command {
            command: shown.clone(),
            detail: err.to_string(),
        })?;
    if !out.status.success() {
        return Err(ImageError::Command {
            command: shown,
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An exclusive `flock` on a file, released when dropped (the descriptor
/// closes).
struct Lock {
    _file: fs::File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, ImageError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_error(format!("opening {}", path.display())))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(ImageError::Io {
                what: format!("locking {}", path.display()),
                source: io::Error::last_os_error(),
            });
        }
        Ok(Lock { _file: file })
    }
}
