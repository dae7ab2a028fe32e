//! `painters tokenize`: texts through a model's tokenizer; the ids and token strings it gives,
//! special tokens added as the model adds them by default ([`tokenize`]).

use std::path::PathBuf;

use painters_bench::models::{ModelSource, tokenize};
use painters_llama::WeightMode;
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
    /// The texts (each one argument; quote them in the shell).
    #[arg(required = true, allow_hyphen_values = true)]
    texts: Vec<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let source = ModelSource {
        model: args.model,
        device: "cpu".into(),
        progress: true,
        weights: WeightMode::F32,
    };
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
