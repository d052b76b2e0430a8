//! Our server driven by Python's `qemu.qmp` (PyPI), the client library
//! QEMU's own tests and tools use: negotiation, commands, errors, events,
//! out-of-band execution.
//!
//! The library is installed with pip into a virtual environment under
//! the target directory (once; later runs reuse it). Without `python3`
//! or the package index this test prints `SKIPPED` and passes, except in
//! CI (`CI` set), where it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use qapi_runtime::qmp::{Config, VersionInfo};
use support::start_demo;

const PACKAGE: &str = "qemu.qmp==0.0.6";

fn skip(why: String) -> Option<PathBuf> {
    if qapi_tests::in_ci() {
        panic!("{why}; CI is set, so this is an error");
    }
    qapi_tests::skipped(
        qapi_tests::SkipReason::Unavailable("Python's qemu.qmp"),
        &why,
    );
    None
}

/// The venv's python with `qemu.qmp` importable, installing it if needed.
fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu-qmp-venv");
    let py = venv.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import qemu.qmp"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(&py) {
        return Some(py);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    match made {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return skip(format!(
                "python3 -m venv failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ))
        }
        Err(e) => {
            return skip(format!(
                "python3 not found ({e}); Debian packages python3, python3-venv"
            ))
        }
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", PACKAGE])
        .output();
    match pip {
        Ok(o) if o.status.success() && has(&py) => Some(py),
        Ok(o) => skip(format!(
            "pip install {PACKAGE} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => skip(format!("pip not runnable: {e}")),
    }
}

const SCRIPT: &str = r#"
import asyncio, sys, time
from qemu.qmp import QMPClient, ExecuteError

async def main(path):
    qmp = QMPClient('qapi-rs-test')
    await qmp.connect(path)
    caps = list(qmp.greeting.QMP.capabilities)
    assert caps == ['oob'], caps
    print('PASS negotiation', qmp.greeting.QMP.version['qemu'])

    v = await qmp.execute('query-version')
    assert v == {'qemu': {'major': 9, 'minor': 0, 'micro': 4}, 'package': 'py'}, v
    names = {c['name'] for c in await qmp.execute('query-commands')}
    assert {'qmp_capabilities', 'draw', 'add-figure', 'query-figures'} <= names, names
    p = await qmp.execute('draw', {'shape': {'name': 'tri', 'points': [{'x': 1, 'y': 2}]}})
    assert p == {'x': 1, 'y': 0, 'label': 'tri'}, p
    schema = await qmp.execute('query-qmp-schema')
    assert any(e['name'] == 'draw' and e['meta-type'] == 'command' for e in schema)
    print('PASS commands')

    for cmd, args, cls, desc in [
        ('nope', None, 'CommandNotFound', 'The command nope has not been found'),
        ('draw', {}, 'GenericError', "Parameter 'shape' is missing"),
        ('draw', {'shape': {'name': 1, 'points': []}}, 'GenericError',
         "Invalid parameter type for 'shape.name', expected: string"),
        ('qmp_capabilities', None, 'CommandNotFound',
         'Capabilities negotiation is already complete, command ignored'),
    ]:
        try:
            await qmp.execute(cmd, args)
            raise AssertionError(cmd + ' succeeded')
        except ExecuteError as e:
            assert (e.error_class, str(e)) == (cls, desc), (e.error_class, str(e))
    print('PASS errors')

    with qmp.listener('FIGURE_ADDED') as listener:
        await qmp.execute('add-figure', {'id': 'c1', 'kind': 'circle', 'radius': 3})
        ev = await asyncio.wait_for(listener.get(), 5)
        assert ev['data'] == {'id': 'c1', 'kind': 'circle'}, ev
        assert ev['timestamp']['seconds'] > 0
    print('PASS events')

    order = []
    async def slow():
        await qmp.execute('draw', {'shape': {'name': 's', 'points': []}, 'scale': 0.5})
        order.append('slow')
    task = asyncio.create_task(slow())
    await asyncio.sleep(0.1)
    figs = await qmp.execute('query-figures', oob=True)
    order.append('oob')
    assert [f['id'] for f in figs] == ['c1'], figs
    await task
    assert order == ['oob', 'slow'], order
    try:
        await qmp.execute('draw', {}, oob=True)
        raise AssertionError('draw ran out of band')
    except ExecuteError as e:
        assert str(e) == 'The command draw does not support OOB', str(e)
    print('PASS oob')
    await qmp.disconnect()

asyncio.run(main(sys.argv[1]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_qmp_drives_our_server() {
    let Some(py) = tokio::task::spawn_blocking(python).await.unwrap() else {
        return;
    };
    let config = Config {
        version: VersionInfo {
            major: 9,
            minor: 0,
            micro: 4,
            package: "py".into(),
        },
        ..Config::default()
    };
    let s = start_demo(config).await;
    let out = tokio::process::Command::new(&py)
        .args(["-c", SCRIPT])
        .arg(&s.path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "qemu.qmp failed:\n{stdout}\n{stderr}");
    for step in ["negotiation", "commands", "errors", "events", "oob"] {
        assert!(
            stdout.contains(&format!("PASS {step}")),
            "{step} missing:\n{stdout}"
        );
    }
}
