//! `qapi-gen`: the command-line face of the QAPI front end and generators.
//!
//! * `qapi-gen check [--legacy] [--dump] SCHEMA` reads and checks a schema.
//!   On success it prints nothing, or with `--dump` the test-qapi.py dump, and
//!   exits with 0. On failure it prints QEMU's diagnostic to stderr and exits
//!   with 1. This is the interface the conformance corpus's `check.sh` drives.
//! * `qapi-gen` without a subcommand will generate Rust once the generator
//!   exists. Until then it acts as `check --legacy --dump` on the newest seed
//!   schema bundled with this repository (`schemas/9.0.4/net-schema.json`).

use std::io::IsTerminal as _;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use qapi_parser::Options;

/// The schema used when no subcommand is given, found through this crate's
/// source location at compile time.
const DEFAULT_SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../schemas/9.0.4/net-schema.json"
);

/// Command-line interface of `qapi-gen`.
#[derive(Parser)]
#[command(name = "qapi-gen", version, about)]
struct Cli {
    /// What to do; without one, `check --legacy --dump` on the bundled
    /// QEMU 9.0.4 net schema (later: generate Rust).
    #[command(subcommand)]
    command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Read and check a schema; report the first error the way QEMU does.
    Check(CheckArgs),
}

/// Arguments of `qapi-gen check`.
#[derive(Args)]
struct CheckArgs {
    /// Accept the forms used by older QEMU releases.
    #[arg(long)]
    legacy: bool,
    /// Print the test-qapi.py dump of the schema to stdout.
    #[arg(long)]
    dump: bool,
    /// The top schema file; messages print this name exactly as given.
    schema: PathBuf,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Some(Command::Check(args)) => check(
            &args.schema,
            &Options {
                legacy: args.legacy,
            },
            args.dump,
        ),
        None => check(Path::new(DEFAULT_SCHEMA), &Options { legacy: true }, true),
    }
}

/// Loads `schema`; prints its dump if asked, or the diagnostic on failure.
/// Whether legacy mode reads the schema that the current rules reject.
fn legacy_accepts(schema: &Path) -> bool {
    qapi_parser::load(schema, &Options { legacy: true }).is_ok()
}

fn check(schema_path: &Path, options: &Options, dump: bool) -> ExitCode {
    let schema = match qapi_parser::load(schema_path, options) {
        Ok(schema) => schema,
        Err(err) => {
            eprintln!("{err}");
            // The reference's text stays byte-exact for scripts and the
            // conformance corpus; a person at a terminal also learns when
            // the schema is in an older QEMU's dialect.
            if !options.legacy && io::stderr().is_terminal() && legacy_accepts(schema_path) {
                eprintln!(
                    "note: this schema is accepted with --legacy (the language of older QEMU releases)"
                );
            }
            return ExitCode::FAILURE;
        }
    };
    if !dump {
        return ExitCode::SUCCESS;
    }
    match write_stdout(&schema.dump()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not worth a message.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("qapi-gen: cannot write the dump: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to stdout as is.
fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    out.write_all(text.as_bytes())?;
    out.flush()
}
