//! Command-line parsing and dispatch.

mod import;
mod progress;
mod serve;
mod template;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sluice_core::template::{MAX_TEMPLATE_BYTES, TemplateSpec, TemplateSyntax, parse_template};

/// Exit code of a usage error (BSD `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;

/// A mistake in how the command was called: bad flags, unreadable template or input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The import was stopped with Ctrl-C (exit 130, as shells report SIGINT).
#[derive(Debug, thiserror::Error)]
#[error("interrupted{0}")]
pub struct Interrupted(pub String);

/// The exit code of an interrupted command.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Self-hosted headless data import: typed templates, CSV/XLSX/JSON validation at speed.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (repeat for debug logs); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a CSV, XLSX or JSON file through the whole pipeline on embedded backends.
    Import(ImportArgs),
    /// Check, print or infer templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Run the HTTP API, the workers and the drop folder on embedded backends.
    Serve(serve::ServeArgs),
    /// Print a bearer token for the local server (signed with the data directory's key).
    Token(serve::TokenArgs),
    /// Manage backend API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key for a tenant and environment; prints it once (only its hash is kept).
    Create(serve::KeyArgs),
}

/// Options of `sluice import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import (.csv, .tsv, .txt, .xlsx or .json; the content decides).
    pub file: PathBuf,
    /// Template file (YAML or JSON).
    #[arg(short, long)]
    pub template: PathBuf,
    /// Write rows.jsonl, errors.jsonl, results.csv and import.json here.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Print the import object as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Sheet of a workbook, by name or 1-based position (a sheet named `2023` wins over position 2023).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Encoding of a CSV (windows-1252, utf-16le, shift_jis, ...); detected when absent.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Delimiter of a CSV (, ; | or \t); detected when absent.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The row holding the column names, counting non-empty rows from 1 (rows above it are
    /// skipped); when absent, a title above the header is found by itself. 0: the file has no
    /// header row (columns follow the template's fields in order, or --mapping 1=KEY ...).
    #[arg(long)]
    pub header_row: Option<u32>,
    /// Map a column to a field: HEADER=KEY, or COLUMN_NUMBER=KEY; HEADER= ignores the column.
    #[arg(long = "mapping", value_name = "HEADER=KEY")]
    pub mapping: Vec<String>,
    /// BLOCK_SUBMIT, REMOVE_INVALID_ROWS or INCLUDE_INVALID_ROWS (overrides the template).
    #[arg(long = "invalid-data", value_name = "BEHAVIOR")]
    pub invalid_data: Option<String>,
    /// Text that means no value, read as an empty cell (`\N`, `NULL`, `NA` ...; repeat for
    /// several; replaces the template's `null_values`).
    #[arg(long = "null-value", value_name = "TEXT", allow_hyphen_values = true)]
    pub null_values: Vec<String>,
    /// Rows per chunk (overrides the template).
    #[arg(long)]
    pub chunk_rows: Option<u32>,
    /// Keep state here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// No progress bars or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// Check a template; prints the first fault with its path.
    Check {
        /// Template file.
        template: PathBuf,
    },
    /// Print the blank CSV template (the header row) for a template.
    Csv {
        /// Template file.
        template: PathBuf,
    },
    /// Print a template inferred from a clean file.
    Infer {
        /// A CSV, XLSX or JSON file with a header row.
        file: PathBuf,
        /// Template name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Rows to sample (1 or more).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        rows: u64,
        /// Sheet of a workbook, by name or 1-based position (default: the first visible one).
        #[arg(long)]
        sheet: Option<String>,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Log verbosity: the server logs what it does (info) unless told otherwise.
    pub fn log_level(&self) -> &'static str {
        let verbose = match &self.command {
            Command::Serve(_) => self.verbose.max(1),
            // `--quiet` keeps stderr for errors: an import's outcome is in its exit code.
            Command::Import(args) if args.quiet && self.verbose == 0 => return "error",
            _ => self.verbose,
        };
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    }
}

/// Runs a command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Import(args) => import::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Token(args) => serve::token(args),
        Command::Keys(KeysCommand::Create(args)) => serve::create_key(args),
        Command::Template(TemplateCommand::Check { template }) => template::check(&template),
        Command::Template(TemplateCommand::Csv { template }) => template::blank_csv(&template),
        Command::Template(TemplateCommand::Infer { file, name, rows, sheet, json }) => {
            template::infer(&file, name, usize::try_from(rows).unwrap_or(usize::MAX), sheet, json)
        }
    }
}

/// Reads a template file, naming the file and the fault's path on error.
pub fn load_template(path: &std::path::Path) -> Result<TemplateSpec, UsageError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| UsageError(format!("cannot read template {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if file.metadata().map_err(cannot)?.is_dir() {
        return Err(UsageError(format!("template {} is a directory, not a template file", path.display())));
    }
    // One byte past the limit tells a file that is too large, even one that grows meanwhile or
    // never ends (`/dev/zero`); a pipe (`--template <(...)`) reads as a file does.
    let mut bytes = Vec::new();
    file.take(MAX_TEMPLATE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(UsageError(format!(
            "template {} is larger than {} KiB, the most a template may be (here and in the API)",
            path.display(),
            MAX_TEMPLATE_BYTES >> 10
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        UsageError(format!("template {}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()))
    })?;
    let syntax = TemplateSyntax::from_file_name(&path.to_string_lossy());
    parse_template(&text, syntax).map_err(|e| UsageError(format!("template {}: {e}", path.display())))
}

/// Logs to stderr at `default` (`warn`, `info` ...); `RUST_LOG` wins. Colours only on a terminal.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
