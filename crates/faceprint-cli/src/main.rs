//! The `faceprint` command line. Errors become exit codes here: 0 success, 1 a "no" answer
//! (`compare`: different people) or some input file failed, 2 an error that stopped the command.

mod args;
mod bench;
mod dispatch;
mod eval;
mod faces;
mod gallery;
mod library;
mod progress;
mod serve;
mod setup;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match dispatch::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // The stable code of a gallery or engine failure leads, for scripts to match on.
            let code = error.chain().find_map(|cause| {
                cause
                    .downcast_ref::<faceprint::GalleryError>()
                    .map(|e| e.code())
                    .or_else(|| cause.downcast_ref::<faceprint::Error>().map(|e| e.code()))
            });
            match code {
                Some(code) => eprintln!("faceprint: error [{code}]: {error:#}"),
                None => eprintln!("faceprint: error: {error:#}"),
            }
            ExitCode::from(2)
        }
    }
}
