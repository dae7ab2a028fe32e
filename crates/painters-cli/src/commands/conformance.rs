//! `painters conformance MANIFEST`: run golden-fixture cases against this implementation.

use std::path::PathBuf;

use painters_bench::conformance::{ConformanceError, run_manifest_with_weights};
use painters_bench::models::{self, LoadError};

use crate::args::{DeviceArgs, WeightsArgs};
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
    /// With a mode other than f32, each decoder forward case is run in that mode and on the exact
    /// f32 path on the same device, and its logits must agree within the mode's stated tolerance
    /// (f16 1e-2, bf16 8e-2, native 0.15 of the largest |logit|); other cases are not run.
    #[command(flatten)]
    weights: WeightsArgs,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let device = painters_bench::device::by_name(&args.device.device)
        .map_err(|e| load_error(LoadError::Device(e), ""))?;
    let models_dir = args.models_dir.unwrap_or_else(models::default_models_dir);
    let weights = args.weights.weights;
    let results = run_manifest_with_weights(
        &args.manifest,
        models_dir,
        args.filter.as_deref(),
        device,
        weights,
        |r| println!("{}", r.line()),
    )
    .map_err(|e| {
        let weights_error = matches!(e, ConformanceError::Weights(_));
        let e = CliError::new(e);
        if weights_error {
            e
        } else {
            e.with_hint("pass the manifest.json of a fixture folder")
        }
    })?;
    let failed = results.iter().filter(|r| !r.passed).count();
    let against = match weights {
        painters_llama::WeightMode::F32 => String::new(),
        mode => format!(" ({mode} weights against this build's f32 path)"),
    };
    println!(
        "{} passed, {} failed{against}",
        results.len() - failed,
        failed
    );
    if results.is_empty() {
        return Err(CliError::new("no case matched").with_hint(
            "check --filter; a weight mode other than f32 runs decoder forward cases only",
        ));
    }
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} conformance case(s) failed"
        )));
    }
    Ok(())
}
