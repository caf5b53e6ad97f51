//! `faceprint keys` and `faceprint serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use faceprint::{FaceEngine, KeyScope, KeyStore};

use crate::args::{KeysCommand, ScopeArg};

pub fn keys(gallery: &dyn KeyStore, action: KeysCommand) -> Result<ExitCode> {
    match action {
        KeysCommand::Create { scope, label } => {
            let scope = match scope {
                ScopeArg::Read => KeyScope::Read,
                ScopeArg::Write => KeyScope::Write,
                ScopeArg::Library => KeyScope::Library,
                ScopeArg::Admin => KeyScope::Admin,
            };
            let (key, secret) = gallery.create_api_key(scope, &label)?;
            eprintln!("key {} ({}) created; it is shown only now:", key.id, scope.as_str());
            println!("{secret}");
        }
        KeysCommand::List => {
            for key in gallery.api_keys()? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeysCommand::Revoke { id } => {
            gallery.revoke_api_key(id)?;
            eprintln!("key {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn serve(
    engine: FaceEngine,
    store: crate::gallery::Store,
    listen: &str,
    config: faceprint_server::ServerConfig,
) -> Result<ExitCode> {
    // Server faults are logged (with their request id) on stderr.
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        let address = listener.local_addr()?;
        // The address is printed once the socket is bound, so scripts can wait for this line.
        println!("faceprint listening on http://{address}");
        use std::io::Write;
        std::io::stdout().flush()?;
        let mut state = faceprint_server::AppState::new(Arc::new(engine), store.gallery, store.keys, config);
        if let Some(library) = store.library {
            state = state.with_library(library);
        }
        faceprint_server::serve(listener, state, faceprint_server::shutdown_signal()).await?;
        eprintln!("faceprint: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
