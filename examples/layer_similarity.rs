//! The paper's Figure 3 on SmolLM2-135M: cosine similarity between the residual states after every
//! layer, on LAMBADA passages, drawn as a heatmap.
//!
//! ```sh
//! scripts/fetch-models.sh
//! cargo run --release -p painters-bench --example layer_similarity -- [MODEL] [N_DOCS]
//! ```
//!
//! Writes `layer_similarity.svg` and `layer_similarity.png` into the current folder and prints the
//! matrix's first row. `painters layers` does the same and more (all modes, angular distance, Block
//! Influence, logit lens, a Markdown report).

use std::path::Path;

use burn::tensor::Device;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::analysis::{AnalysisOptions, SimilarityMode, analyze_llama};
use painters_bench::lm::LlamaLm;
use painters_bench::report::layers::{LayerReportMeta, similarity_heatmap};
use painters_bench::report::{write_png, write_svg};
use painters_bench::requests::{Request, loglikelihood_tokens};
use painters_bench::tasks::{Task, lambada::Lambada};
use painters_llama::{LlamaModel, load_tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf".to_string()
    });
    let docs: usize = args.next().map_or(Ok(16), |n| n.parse())?;

    let model = LlamaModel::load(&path, &Device::flex())?;
    let tokenizer = load_tokenizer(&path)?;
    let t = model.num_blocks();
    let plan = Plan::compile(&LayerSchedule::full(t), t, KvMode::Exact)?;
    let lm = LlamaLm::new(&model, &plan, &tokenizer);

    // LAMBADA passages, tokenised exactly as lm-eval's loglikelihood requests.
    let loaded = Lambada.load(Path::new("data"), Some(docs))?;
    let mut requests = Vec::new();
    for doc in &loaded.docs {
        if let Some(Request::Loglikelihood {
            context,
            continuation,
        }) = doc.requests.first()
        {
            requests.push(loglikelihood_tokens(&lm, context, continuation)?);
        }
    }

    let options = AnalysisOptions {
        top_k: 0, // similarity only: no logit lens
        ..AnalysisOptions::default()
    };
    let analysis = analyze_llama(&model, &plan, &requests, None, &options, |done, total| {
        eprintln!("{done}/{total} passages");
    })?;

    let meta = LayerReportMeta {
        model: "SmolLM2-135M-Instruct".into(),
        ..LayerReportMeta::default()
    };
    let chart = similarity_heatmap(&analysis, SimilarityMode::Paper, &meta);
    write_svg(&chart, Path::new("layer_similarity.svg"))?;
    write_png(&chart, Path::new("layer_similarity.png"))?;

    let paper = &analysis.similarity.paper;
    let row: Vec<String> = paper[0].iter().map(|c| format!("{c:.2}")).collect();
    println!("cos(embedding, state j), j = 0..={t}: {}", row.join(" "));
    println!("wrote layer_similarity.svg and layer_similarity.png");
    Ok(())
}
