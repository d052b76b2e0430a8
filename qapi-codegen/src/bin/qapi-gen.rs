//! `qapi-gen`: the command-line face of the QAPI front end and generators.
//!
//! * `qapi-gen check [--legacy] [--dump] SCHEMA` reads and checks a schema.
//!   On success it prints nothing, or with `--dump` the test-qapi.py dump, and
//!   exits with 0. On failure it prints QEMU's diagnostic to stderr and exits
//!   with 1. This is the interface the conformance corpus's `check.sh` drives.
//! * `qapi-gen introspect [--legacy] [--cfg SYMBOL]... [--unmask] SCHEMA`
//!   prints the `query-qmp-schema` answer of a QEMU built from the schema
//!   with the given configuration symbols defined, as pretty-printed JSON.
//! * `qapi-gen rust [SCHEMA] [-o FILE] [options]` generates Rust: types,
//!   command traits and dispatchers, request types, events, introspection.
//!   Without a schema it uses the newest seed bundled with this repository
//!   (`schemas/9.0.4/net-schema.json`); without `-o` it prints to stdout.
//! * `qapi-gen diff [--for client|server|both] [--format text|json] OLD NEW`
//!   prints what an upgrade from schema OLD to schema NEW changes on the
//!   wire, classified by whom it breaks (see `qapi_codegen::diff`). Exit
//!   status: 0 when nothing breaks the side `--for` names (default
//!   `both`), 1 when something does, 2 when a schema cannot be read.
//! * `qapi-gen` without a subcommand acts as `qapi-gen rust`.

use std::io::IsTerminal as _;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// What to do; without one, `rust` on the bundled QEMU 9.0.4 net
    /// schema, printed to stdout.
    #[command(subcommand)]
    command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Read and check a schema; report the first error the way QEMU does.
    Check(CheckArgs),
    /// Generate Rust from a schema.
    Rust(RustArgs),
    /// Print the `query-qmp-schema` answer a QEMU built from the schema
    /// gives, as pretty-printed JSON.
    Introspect(IntrospectArgs),
    /// Print what an upgrade from one schema to another breaks on the
    /// wire, for old clients and for old servers.
    Diff(DiffArgs),
}

/// Arguments of `qapi-gen rust`: the Builder's options.
#[derive(Args, Default)]
struct RustArgs {
    /// Where to write (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Accept the forms used by older QEMU releases.
    #[arg(long)]
    legacy: bool,
    /// Map a QAPI `if` symbol: `SYMBOL` (always defined), `!SYMBOL`
    /// (undefined), or `SYMBOL=PREDICATE` (`CONFIG_AF_XDP=feature = "af-xdp"`).
    #[arg(long = "cfg", value_name = "SPEC")]
    cfg: Vec<String>,
    /// Count symbols no --cfg names as defined (default: undefined).
    #[arg(long)]
    unmapped_defined: bool,
    /// The runtime crate's path in generated code.
    #[arg(long, value_name = "PATH", default_value = "::qapi_runtime")]
    runtime: String,
    /// Enums keep unknown values (`Unknown(String)`) when a client reads.
    #[arg(long)]
    open_enums: bool,
    /// What to do with `unstable` interfaces: `include`, `omit`, or a
    /// cfg predicate to gate them with (`feature = "unstable"`).
    #[arg(long, value_name = "POLICY", default_value = "include")]
    unstable: String,
    /// An extra derive on every type. Repeat for more.
    #[arg(long = "derive", value_name = "PATH")]
    derives: Vec<String>,
    /// Leave out a part: `types`, `server`, `client`, `events`,
    /// `introspection`. Repeat for more.
    #[arg(long = "without", value_name = "PART")]
    without: Vec<String>,
    /// Unmask type names in the introspection data.
    #[arg(long)]
    unmask: bool,
    /// Also generate `commands::QmpService` for qapi_runtime's QMP server.
    #[arg(long)]
    qmp_service: bool,
    /// The top schema file (default: the bundled QEMU 9.0.4 net.json).
    schema: Option<PathBuf>,
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

/// Arguments of `qapi-gen introspect`.
#[derive(Args)]
struct IntrospectArgs {
    /// Accept the forms used by older QEMU releases.
    #[arg(long)]
    legacy: bool,
    /// A configuration symbol (`CONFIG_VNC`, `TARGET_I386`) to count as
    /// defined; every other symbol is undefined. Repeat for more.
    #[arg(long = "cfg", value_name = "SYMBOL")]
    cfg: Vec<String>,
    /// Keep type names instead of masking them as numbers (QEMU's
    /// `qapi-gen -u`).
    #[arg(long)]
    unmask: bool,
    /// The top schema file; messages print this name exactly as given.
    schema: PathBuf,
}

/// Whose breakage `qapi-gen diff` exits non-zero for.
#[derive(Clone, Copy, ValueEnum)]
enum ForSide {
    /// Old clients talking to a new server.
    Client,
    /// Old servers receiving new clients' requests (and new clients
    /// reading old servers' answers).
    Server,
    /// Either.
    Both,
}

/// The output format of `qapi-gen diff`.
#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    /// One line per change, in sections by class.
    Text,
    /// One JSON object, for tools.
    Json,
}

/// Arguments of `qapi-gen diff`.
#[derive(Args)]
struct DiffArgs {
    /// Exit with status 1 when a change breaks this side.
    #[arg(long = "for", value_enum, default_value = "both")]
    side: ForSide,
    /// The output format.
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
    /// Short for `--format json`.
    #[arg(long)]
    json: bool,
    /// The old schema's top file (any QEMU release).
    old: PathBuf,
    /// The new schema's top file.
    new: PathBuf,
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
        Some(Command::Introspect(args)) => introspect(&args),
        Some(Command::Rust(args)) => rust(&args),
        Some(Command::Diff(args)) => diff(&args),
        None => rust(&RustArgs {
            runtime: "::qapi_runtime".into(),
            unstable: "include".into(),
            ..RustArgs::default()
        }),
    }
}

/// Generates Rust as `args` say; QEMU's diagnostic on a bad schema.
fn rust(args: &RustArgs) -> ExitCode {
    use qapi_codegen::{Builder, Parts, Unstable};
    let schema = args
        .schema
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SCHEMA));
    let mut parts = Parts::default();
    for part in &args.without {
        match part.as_str() {
            "types" => parts.types = false,
            "server" => parts.server = false,
            "client" => parts.client = false,
            "events" => parts.events = false,
            "introspection" => parts.introspection = false,
            other => {
                eprintln!("qapi-gen: unknown part '{other}' (types, server, client, events, introspection)");
                return ExitCode::FAILURE;
            }
        }
    }
    let unstable = match args.unstable.as_str() {
        "include" => Unstable::Include,
        "omit" => Unstable::Omit,
        predicate => Unstable::Cfg(predicate.to_owned()),
    };
    let mut cfg = qapi_codegen::cfg::CfgMap::new();
    for spec in &args.cfg {
        if let Err(e) = cfg.add_spec(spec) {
            eprintln!("qapi-gen: {e}");
            return ExitCode::FAILURE;
        }
    }
    cfg.unmapped_defined(args.unmapped_defined);
    // The bundled 9.0 schema predates today's doc rules.
    let legacy = args.legacy || args.schema.is_none();
    let mut builder = Builder::new(&schema)
        .legacy(legacy)
        .cfg_map(cfg)
        .parts(parts)
        .runtime_path(&args.runtime)
        .open_enums(args.open_enums)
        .unstable(unstable)
        .unmask_introspection(args.unmask)
        .qmp_service(args.qmp_service)
        .cargo_directives(false);
    for d in &args.derives {
        builder = builder.derive(d);
    }
    let source = match builder.generate_source() {
        Ok(source) => source,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &source),
        None => write_stdout(&source),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("qapi-gen: cannot write the output: {err}");
            ExitCode::FAILURE
        }
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

/// `qapi-gen introspect`: loads the schema, prints the answer (or the
/// diagnostic, as `check` does).
fn introspect(args: &IntrospectArgs) -> ExitCode {
    let options = Options {
        legacy: args.legacy,
    };
    let schema = match qapi_parser::load(&args.schema, &options) {
        Ok(schema) => schema,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let defined = |symbol: &str| args.cfg.iter().any(|s| s == symbol);
    let answer = qapi_codegen::introspect::schema_info(&schema, &defined, args.unmask);
    let mut text = serde_json::to_string_pretty(&answer).unwrap_or_default();
    text.push('\n');
    match write_stdout(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("qapi-gen: cannot write the answer: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `qapi-gen diff`: loads both schemas, prints the report, and exits
/// with 1 when something breaks the side asked for (2 when a schema
/// cannot be read).
fn diff(args: &DiffArgs) -> ExitCode {
    use qapi_codegen::diff::{self, Side};
    // Released schemas are in older dialects of the language, which the
    // front end accepts in legacy mode only for now; once legacy mode is
    // the default (a change in progress), this can use the default.
    let options = Options { legacy: true };
    let load = |path: &Path| {
        qapi_parser::load(path, &options).map_err(|err| {
            eprintln!("{err}");
        })
    };
    let (Ok(old), Ok(new)) = (load(&args.old), load(&args.new)) else {
        return ExitCode::from(2);
    };
    let report = diff::diff(&old, &new);
    let text = match (args.json, args.format) {
        (true, _) | (false, DiffFormat::Json) => {
            let mut text =
                serde_json::to_string_pretty(&diff::to_json(&report)).unwrap_or_default();
            text.push('\n');
            text
        }
        (false, DiffFormat::Text) => diff::to_text(&report),
    };
    if let Err(err) = write_stdout(&text) {
        if err.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("qapi-gen: cannot write the report: {err}");
        }
        return ExitCode::from(2);
    }
    let side = match args.side {
        ForSide::Client => Side::Client,
        ForSide::Server => Side::Server,
        ForSide::Both => Side::Both,
    };
    if report.breaks(side) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
