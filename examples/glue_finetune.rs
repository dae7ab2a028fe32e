//! Fine-tune a BERT encoder on a GLUE task under a layer schedule, the paper's BERT protocol: the
//! schedule is in force while training and while evaluating.
//!
//! Trains all-MiniLM-L6-v2 on a seeded sample of 2 000 SST-2 sentences (3 epochs, the run_glue
//! defaults), once with all six blocks and once with the middle three run in parallel (the paper's
//! *parallel* preset, N = 1), and prints both dev accuracies. This is the setup of the SST-2 rows of
//! docs/glue.md (`painters glue --task sst2 --train-limit 2000 --train-sample [--preset parallel
//! --n 1]`: 0.804 and 0.748 there); about 7 minutes per schedule on that shared 2-core machine.
//!
//! ```sh
//! scripts/fetch-models.sh
//! cargo run --release -p painters-bench --example glue_finetune
//! ```

use burn::tensor::Device;
use painters::{LayerSchedule, paper};
use painters_bench::glue::{FinetuneConfig, GlueTask, finetune};
use painters_bench::glue::{Subset, evaluate_glue, load_glue_jsonl};
use painters_bert::{BertForSequenceClassification, BertModel, BertTokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "models/all-minilm-l6-v2";
    let device = Device::flex();
    let task = GlueTask::Sst2;
    let config = BertModel::load(dir, &device)?.config().clone();
    let tokenizer = BertTokenizer::for_model(dir, &config)?;
    let t = config.num_hidden_layers;
    let train = load_glue_jsonl(
        "data/glue-sst2/train.jsonl.gz",
        task,
        Subset::Sample { n: 2000, seed: 42 },
        &tokenizer,
        128,
    )?;
    let dev = load_glue_jsonl(
        "data/glue-sst2/dev.jsonl",
        task,
        Subset::All,
        &tokenizer,
        128,
    )?;

    let schedules = [
        ("full", LayerSchedule::full(t)),
        ("parallel N=1", paper::parallel(t, 1)?),
    ];
    // lr 2e-5, batch 32, 3 epochs, seed 42: HF run_glue's defaults.
    let cfg = FinetuneConfig::default();
    for (name, schedule) in schedules {
        // A fresh encoder and a new classification head for each schedule.
        let bert = BertModel::load(dir, &device)?;
        let plan = bert.plan(&schedule)?;
        let model = BertForSequenceClassification::new(bert, task.num_labels(), cfg.seed)?;
        let (model, report) = finetune(model, &schedule, &train, None, &cfg)?;
        let metrics = evaluate_glue(&model, &plan, &dev, task, cfg.batch_size)?;
        println!(
            "{name:>13}  `{schedule}`  {} steps  dev accuracy {:.3}",
            report.steps.len(),
            metrics.accuracy.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
