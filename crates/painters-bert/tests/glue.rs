//! GLUE TSV loading: header-named columns, HF label orders, line-numbered errors.

mod common;

use common::*;

#[test]
fn glue_tsv_files_load() {
    use painters_bert::BertTokenizer;
    use painters_bert::finetune::{GlueTask, load_glue_tsv};
    let dir = std::env::temp_dir().join(format!("painters-bert-{}-glue", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let tok = BertTokenizer::from_file(minilm_dir()).expect("tokenizer");
    let mrpc = dir.join("mrpc.tsv");
    std::fs::write(
        &mrpc,
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said \"yes\".\tHe agreed.\n0\t3\t4\tA cat.\tThe stock market.\n",
    )
    .expect("write");
    let d = load_glue_tsv(&mrpc, GlueTask::Mrpc, &tok, 128).expect("mrpc");
    assert_eq!(d.len(), 2);
    assert_eq!(d.examples[0].label, 1.0);
    assert!(
        d.examples[0].token_type_ids.contains(&1),
        "pairs get token type 1"
    );
    let rte = dir.join("rte.tsv");
    std::fs::write(
        &rte,
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tnot_entailment\n1\tc\td\tmaybe\n",
    )
    .expect("write");
    let err = load_glue_tsv(&rte, GlueTask::Rte, &tok, 128).expect_err("bad label");
    assert!(err.to_string().contains("rte.tsv:3"), "{err}");
    let cola = dir.join("cola.tsv");
    std::fs::write(
        &cola,
        "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n",
    )
    .expect("write");
    let d =
        load_glue_tsv(&cola, GlueTask::from_name("CoLA").expect("task"), &tok, 8).expect("cola");
    assert_eq!(d.examples[0].input_ids.len(), 8, "truncated to max length");
    let _ = std::fs::remove_dir_all(&dir);
}
