//! The dispatcher: each command line to the room that runs it. Nothing imports from here.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{BenchCommand, Cli, Command, EvalCommand, PhotoArgs};
use crate::faces::Work;
use crate::gallery::{self, open_store};
use crate::{eval, faces, setup};

pub fn run(mut cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    if let Some(engine) = cli.command.engine_args_mut() {
        engine.device = cli.device;
    }
    match cli.command {
        Command::Detect { photos, engine } => faces::detect_or_embed(&engine, photos, Work::Detect, quiet),
        Command::Embed { files, json, select, engine } => {
            let photos = PhotoArgs { files, json, draw: None, select };
            faces::detect_or_embed(&engine, photos, Work::Embed, quiet)
        }
        Command::Analyze { photos, engine } => faces::detect_or_embed(&engine, photos, Work::Analyse, quiet),
        Command::Compare { a, b, json, select, engine } => faces::compare(&engine, &a, &b, select.into(), json),
        Command::Eval { benchmark: EvalCommand::Lfw { pairs, root, plot, json, select }, engine } => {
            eval::eval_lfw(&engine, &pairs, &root, plot.as_deref(), json, select.into(), quiet)
        }
        Command::Eval {
            benchmark: EvalCommand::Quality { pairs, root, fmr, max_discard, plot, json, select },
            engine,
        } => {
            let args = crate::eval::quality::QualityEvalArgs {
                pairs: &pairs,
                root: &root,
                fmr,
                max_discard,
                plot: plot.as_deref(),
                json,
                select: select.into(),
            };
            crate::eval::quality::run(&engine, &args, quiet)
        }
        Command::Eval {
            benchmark: EvalCommand::Gate { root, fmr, max_discard, bootstrap, plot, json, select },
            engine,
        } => {
            let args = crate::eval::gate::GateEvalArgs {
                roots: &root,
                fmrs: &fmr,
                max_discard,
                resamples: bootstrap,
                plot: plot.as_deref(),
                json,
                select: select.into(),
            };
            crate::eval::gate::run(&engine, &args, quiet)
        }
        Command::Eval { benchmark: EvalCommand::Cluster { root, all_faces, sheet, json, cluster }, engine } => {
            let args = crate::eval::cluster::ClusterEvalArgs { root, sheet, all_faces, json, params: cluster.into() };
            crate::eval::cluster::run(&engine, &args, quiet)
        }
        Command::Eval { benchmark: EvalCommand::Identify { protocol, root, json, select, force }, engine } => {
            let gate = (!force).then(faceprint::analysis::QualityGate::default);
            eval::eval_identify(&engine, protocol, &root, json, select.into(), gate, quiet)
        }
        Command::Enroll { subject, list, files, select, min_score, min_size, force, min_quality, refuse, engine } => {
            let gate = faceprint::analysis::QualityGate {
                min_score: min_quality,
                refuse: faceprint::analysis::IssueSet::of(&refuse),
                ..Default::default()
            };
            let policy = faceprint::EnrolPolicy {
                select: select.into(),
                min_detection_score: min_score,
                min_face_size: min_size,
                quality_gate: (!force).then_some(gate),
            };
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = engine.engine()?;
            gallery::enroll(&engine, &*gallery, &cli.gallery.collection, subject, list, files, policy, quiet)
        }
        Command::Identify { files, json, top_k, engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = engine.engine()?;
            gallery::identify(&engine, &*gallery, &cli.gallery.collection, files, json, top_k, quiet)
        }
        Command::Verify { subject, probe, json, select, engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = engine.engine()?;
            gallery::verify(&engine, &*gallery, &cli.gallery.collection, &subject, &probe, select.into(), json)
        }
        Command::Subjects { action } => {
            gallery::subjects(&*open_store(&cli.gallery)?.gallery, &cli.gallery.collection, action)
        }
        Command::Faces { action } => {
            gallery::faces(&*open_store(&cli.gallery)?.gallery, &cli.gallery.collection, action)
        }
        Command::Collections { action } => gallery::collections(&*open_store(&cli.gallery)?.gallery, action),
        Command::Gallery { action: crate::args::GalleryCommand::Copy { from, to, json } } => {
            gallery::copy(&from, &to, &cli.gallery, json)
        }
        Command::Export { out } => {
            let store = open_store(&cli.gallery)?;
            crate::gallery::transfer::export(&*store.gallery, store.library.as_deref(), &out)
        }
        Command::Import { input } => {
            let store = open_store(&cli.gallery)?;
            crate::gallery::transfer::import(&*store.gallery, store.library.as_deref(), &input)
        }
        Command::Reembed { engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            gallery::reembed(&engine.engine()?, &*gallery, quiet)
        }
        Command::Models { action, engine } => setup::models(action, &engine),
        Command::Bench { what: BenchCommand::Pipeline(args), engine } => {
            crate::bench::pipeline::run(&engine, &args, quiet)
        }
        Command::Bench { what: BenchCommand::Recognition(args), engine } => {
            crate::bench::recognition::run(&engine, &args, quiet)
        }
        Command::Bench { what: BenchCommand::Search(args), engine } => crate::bench::search::run(&engine, &args),
        Command::Bench { what: BenchCommand::Serve(args), .. } => crate::bench::serve::run(&args),
        Command::Bench { what: BenchCommand::Stores(args), engine } => crate::bench::stores::run(&engine, &args),
        Command::Bench { what: BenchCommand::Cluster(args), engine } => crate::bench::cluster::run(&engine, &args),
        Command::Bench { what: BenchCommand::Library(args), engine } => crate::bench::library::run(&engine, &args),
        Command::Demo { out, engine } => faces::demo(&engine, &out),
        Command::Info { engine, json } => setup::info(&engine, json),
        Command::Library { action } => crate::library::run(&open_store(&cli.gallery)?, action, quiet),
        Command::Keys { action } => crate::serve::keys(&*open_store(&cli.gallery)?.keys, action),
        Command::Serve { listen, max_body_mb, queue, timeout_s, engine } => {
            let config = faceprint_server::ServerConfig {
                max_body_bytes: max_body_mb << 20,
                request_timeout: std::time::Duration::from_secs(timeout_s),
                queue_capacity: queue,
                ..faceprint_server::ServerConfig::default()
            };
            let store = open_store(&cli.gallery)?;
            crate::serve::serve(engine.server_engine()?, store, &listen, config)
        }
    }
}
