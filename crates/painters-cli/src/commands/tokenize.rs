//! `painters tokenize`: texts through a model's tokenizer; the ids and token strings it gives,
//! special tokens added as the model adds them by default ([`tokenize`]).

use std::path::{Path, PathBuf};

use painters_bench::models::{ModelSource, tokenize};
use painters_llama::WeightMode;
use painters_llama::export::write_tokenizer_files;
use serde_json::json;

use crate::error::{CliError, LLAMA_MODEL_HINT, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/tokenize.txt"))]
pub struct Args {
    /// The model: a HF checkpoint folder (its tokenizer.json), a .gguf file (its embedded
    /// tokenizer), or hf:OWNER/NAME[@REVISION][:FILE.gguf].
    #[arg(long)]
    model: PathBuf,
    /// Print {"input_ids": [...], "tokens": [...]} per text (a JSON array of them for several
    /// texts).
    #[arg(long)]
    json: bool,
    /// Write the tokenizer as HF files (tokenizer.json, tokenizer_config.json; from a GGUF's
    /// vocabulary) into this folder, for tools that load tokenizers with transformers (lm-eval's
    /// `tokenizer=DIR` against `painters serve`).
    #[arg(long)]
    save_hf: Option<PathBuf>,
    /// The texts (each one argument; quote them in the shell).
    #[arg(required_unless_present = "save_hf", allow_hyphen_values = true)]
    texts: Vec<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let source = ModelSource {
        model: args.model,
        device: "cpu".into(),
        progress: true,
        weights: WeightMode::F32,
    };
    if let Some(dir) = &args.save_hf {
        return save_hf(&source, dir);
    }
    let out = tokenize(&source, &args.texts).map_err(|e| load_error(e, LLAMA_MODEL_HINT))?;
    if args.json {
        let items: Vec<serde_json::Value> = out
            .iter()
            .map(|t| json!({"input_ids": t.input_ids, "tokens": t.tokens}))
            .collect();
        let v = match items.as_slice() {
            [one] => one.clone(),
            _ => json!(items),
        };
        println!("{v}");
        return Ok(());
    }
    for (text, t) in args.texts.iter().zip(&out) {
        println!("text: {}", json!(text));
        println!("input_ids: {}", json!(t.input_ids));
        println!("tokens: {}", json!(t.tokens));
    }
    Ok(())
}

/// `--save-hf DIR`: the model's tokenizer files into `dir` (created if missing).
fn save_hf(source: &ModelSource, dir: &Path) -> Result<(), CliError> {
    let path = source
        .local_path()
        .map_err(|e| load_error(e, LLAMA_MODEL_HINT))?;
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::new(format!("{}: {e}", dir.display()))
            .with_hint("--save-hf takes a folder that can be created")
    })?;
    write_tokenizer_files(&path, dir).map_err(|e| CliError::new(e).with_hint(LLAMA_MODEL_HINT))?;
    eprintln!(
        "wrote the tokenizer of {} into {}",
        path.display(),
        dir.display()
    );
    Ok(())
}
