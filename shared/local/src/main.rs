//! `sluice`: imports on this machine, template tools, the local server, tokens and API keys.
//!
//! Exit codes: 0 the import is SUCCESSFUL (or the command worked), 2 NEEDS_REVIEW, 1 FAILED or
//! an operational error, 64 a usage error (bad flags, unreadable template or file), 130
//! interrupted (Ctrl-C).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli::init_tracing(args.log_level());
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<cli::UsageError>() {
            Some(usage) => {
                eprintln!("error: {usage}");
                ExitCode::from(cli::EXIT_USAGE)
            }
            None => {
                eprintln!("error: {e:#}");
                let interrupted = e.downcast_ref::<cli::Interrupted>().is_some();
                ExitCode::from(if interrupted { cli::EXIT_INTERRUPTED } else { 1 })
            }
        },
    }
}
