//! `painters conformance MANIFEST`: run golden-fixture cases against this implementation.

use std::path::PathBuf;

use painters_bench::conformance::run_manifest;
use painters_bench::models::{self, LoadError};

use crate::args::DeviceArgs;
use crate::error::{CliError, load_error};

#[derive(clap::Args)]
pub struct Args {
    /// The fixture manifest (e.g. tests/fixtures/manifest.json).
    manifest: PathBuf,
    /// Where packaged real models are (as scripts/fetch-models.sh lays them out); default
    /// $PAINTERS_MODELS_DIR or ./models.
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Run only the cases whose id contains this text.
    #[arg(long)]
    filter: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let device = painters_bench::device::by_name(&args.device.device)
        .map_err(|e| load_error(LoadError::Device(e), ""))?;
    let models_dir = args.models_dir.unwrap_or_else(models::default_models_dir);
    let results = run_manifest(
        &args.manifest,
        models_dir,
        args.filter.as_deref(),
        device,
        |r| println!("{}", r.line()),
    )
    .map_err(|e| CliError::new(e).with_hint("pass the manifest.json of a fixture folder"))?;
    let failed = results.iter().filter(|r| !r.passed).count();
    println!("{} passed, {} failed", results.len() - failed, failed);
    if results.is_empty() {
        return Err(CliError::new("no case matched").with_hint("check --filter"));
    }
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} conformance case(s) failed"
        )));
    }
    Ok(())
}
