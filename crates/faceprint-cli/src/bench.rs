use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{BenchArgs, EngineArgs};

pub fn run(_engine: &EngineArgs, _args: &BenchArgs, _quiet: bool) -> Result<ExitCode> {
    anyhow::bail!("bench: not yet")
}
