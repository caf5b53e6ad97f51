//! The `faceprint` command line. Errors become exit codes here: 0 success, 1 a "no" answer
//! (`compare`: different people) or some input file failed, 2 an error that stopped the command.

mod analyze_cmd;
mod bench;
mod bench_cluster;
mod bench_hostile;
mod bench_indexes;
mod bench_library;
mod bench_recognition;
mod bench_search;
mod bench_serve;
mod bench_stores;
mod cli;
mod commands;
mod eval_cluster;
mod eval_gate;
mod eval_quality;
mod gallery_cmd;
mod info;
mod library_cmd;
mod measure;
mod output;
mod plot;
mod progress;
mod serve_cmd;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
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
