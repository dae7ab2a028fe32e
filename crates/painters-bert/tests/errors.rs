//! Bad user input gives typed errors that name the file and the field or tensor; nothing panics.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use painters::weights::{SafetensorsFile, TensorSource, WeightError};
use painters::{KvCache, LayerSchedule, Transformer};
use painters_bert::{
    BertConfig, BertError, BertInput, BertModel, BertTokenizer, ConfigError, InputError,
};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn tiny() -> PathBuf {
    fixtures().join("models/tiny-bert")
}

/// A fresh scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("painters-bert-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    Scratch(d)
}

/// Copy tiny-bert into `dir`, passing each tensor through `edit` (None drops it).
fn edited_tiny(dir: &Path, edit: impl Fn(&str, Vec<usize>) -> Option<Vec<usize>>) {
    std::fs::copy(tiny().join("config.json"), dir.join("config.json")).expect("config");
    let src = SafetensorsFile::open(tiny().join("model.safetensors")).expect("open");
    let mut keep = Vec::new();
    for name in src.names() {
        let t = src.read(&name).expect("read");
        if let Some(shape) = edit(&name, t.shape.clone()) {
            let n: usize = shape.iter().product();
            let mut data = t.data;
            data.resize(n, 0.0);
            keep.push((
                name,
                shape,
                data.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ));
        }
    }
    let views: Vec<(String, TensorView)> = keep
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("view"),
            )
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, None, &dir.join("model.safetensors"))
        .expect("write");
}

#[test]
fn missing_tensor_is_named() {
    let dir = scratch("missing");
    let gone = "bert.encoder.layer.3.intermediate.dense.bias";
    edited_tiny(&dir, |n, s| (n != gone).then_some(s));
    let err = BertModel::load(&dir, &device()).expect_err("must fail");
    let msg = err.to_string();
    assert!(
        matches!(&err, BertError::Weights(WeightError::Missing { tensor, .. }) if tensor == gone),
        "{err:?}"
    );
    assert!(
        msg.contains(gone) && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
}

#[test]
fn wrong_shape_is_named() {
    let dir = scratch("shape");
    let bad = "bert.encoder.layer.1.attention.self.key.weight";
    edited_tiny(&dir, |n, s| Some(if n == bad { vec![64, 32] } else { s }));
    let err = BertModel::load(&dir, &device()).expect_err("must fail");
    assert!(
        matches!(&err, BertError::Weights(WeightError::Shape { tensor, expected, found, .. })
            if tensor == bad && expected == &vec![64, 64] && found == &vec![64, 32]),
        "{err:?}"
    );
}

#[test]
fn not_a_bert_checkpoint() {
    let dir = scratch("notbert");
    edited_tiny(&dir, |n, s| (!n.contains("word_embeddings")).then_some(s));
    let err = BertModel::load(&dir, &device()).expect_err("must fail");
    assert!(err.to_string().contains("bert."), "{err}");
}

#[test]
fn config_errors_name_the_field() {
    let base = std::fs::read_to_string(tiny().join("config.json")).expect("config");
    let path = Path::new("x/config.json");
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v: serde_json::Value = serde_json::from_str(&base).expect("json");
        f(v.as_object_mut().expect("object"));
        BertConfig::from_json_str(&v.to_string(), path)
    };
    assert!(edit(&|_| {}).is_ok());
    let e = edit(&|o| {
        o.remove("hidden_size");
    });
    assert!(
        matches!(
            e,
            Err(ConfigError::Missing {
                field: "hidden_size",
                ..
            })
        ),
        "{e:?}"
    );
    let e = edit(&|o| {
        o.insert("hidden_act".into(), "gelu_new".into());
    });
    assert!(
        matches!(
            e,
            Err(ConfigError::Invalid {
                field: "hidden_act",
                ..
            })
        ),
        "{e:?}"
    );
    let e = edit(&|o| {
        o.insert("position_embedding_type".into(), "relative_key".into());
    });
    assert!(
        matches!(
            e,
            Err(ConfigError::Invalid {
                field: "position_embedding_type",
                ..
            })
        ),
        "{e:?}"
    );
    let e = edit(&|o| {
        o.insert("num_attention_heads".into(), 5.into());
    });
    assert!(
        matches!(
            e,
            Err(ConfigError::Invalid {
                field: "num_attention_heads",
                ..
            })
        ),
        "{e:?}"
    );
    let e = edit(&|o| {
        o.insert("vocab_size".into(), "many".into());
    });
    let msg = e.expect_err("bad type").to_string();
    assert!(
        msg.contains("vocab_size") && msg.contains("x/config.json"),
        "{msg}"
    );
    assert!(BertConfig::from_json_str("[1]", path).is_err());
    assert!(matches!(
        BertConfig::from_file("/nonexistent/config.json"),
        Err(ConfigError::Io { .. })
    ));
}

#[test]
fn tokenizer_of_another_model_is_refused() {
    let cfg = BertConfig::from_file(tiny()).expect("config");
    let err = BertTokenizer::for_model(minilm_dir(), &cfg).expect_err("must fail");
    assert!(
        matches!(
            err,
            BertError::VocabMismatch {
                tokenizer: 30522,
                model: 256,
                ..
            }
        ),
        "{err:?}"
    );
    let minilm = BertConfig::from_file(minilm_dir()).expect("config");
    let tok = BertTokenizer::for_model(minilm_dir(), &minilm).expect("tokenizer");
    assert!(
        tok.with_max_length(513).is_err(),
        "longer than the position table"
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = BertModel::load(tiny(), &device()).expect("loads");
    let plan = model.plan(&LayerSchedule::full(6)).expect("plan");
    let run =
        |input: &BertInput| Transformer::forward(&model, &plan, input, None, &mut ()).map(|_| ());
    let long = BertInput::single(&[5; 65]).expect("input");
    assert!(matches!(
        run(&long),
        Err(BertError::Input(InputError::TooLong { seq: 65, max: 64 }))
    ));
    let oov = BertInput::single(&[5, 256, 7]).expect("input");
    assert!(matches!(
        run(&oov),
        Err(BertError::Input(InputError::OutOfRange {
            name: "input_ids",
            value: 256,
            row: 0,
            pos: 1,
            ..
        }))
    ));
    let neg = BertInput::single(&[5, -1]).expect("input");
    assert!(matches!(
        run(&neg),
        Err(BertError::Input(InputError::OutOfRange { .. }))
    ));
    let types = BertInput::new(1, 2, vec![5, 6], Some(vec![0, 2]), None).expect("input");
    assert!(matches!(
        run(&types),
        Err(BertError::Input(InputError::OutOfRange {
            name: "token_type_ids",
            ..
        }))
    ));
    let mask = BertInput::new(1, 2, vec![5, 6], None, Some(vec![1, 3])).expect("input");
    assert!(matches!(
        run(&mask),
        Err(BertError::Input(InputError::OutOfRange {
            name: "attention_mask",
            ..
        }))
    ));
    assert!(matches!(
        BertInput::new(2, 3, vec![1; 5], None, None),
        Err(InputError::Length { found: 5, .. })
    ));
    assert!(matches!(
        BertInput::single(&[]),
        Err(InputError::Empty { .. })
    ));
    assert!(matches!(
        model.plan(&LayerSchedule::full(7)),
        Err(BertError::Schedule(_))
    ));
    let mut cache = KvCache::for_plan(&plan);
    let ok = BertInput::single(&[5, 6]).expect("input");
    assert!(matches!(
        Transformer::forward(&model, &plan, &ok, Some(&mut cache), &mut ()),
        Err(BertError::Unsupported(_))
    ));
}

#[test]
fn save_and_reload_round_trips() {
    let dir = scratch("save");
    let model = BertModel::load(tiny(), &device()).expect("loads");
    model.save(&dir).expect("save");
    let again = BertModel::load(&dir, &device()).expect("reload");
    let input = read_input("inputs/tiny-bert.safetensors", "b2");
    let plan = model
        .plan(&"0, par(1..=4)x2, 5".parse().expect("schedule"))
        .expect("plan");
    let a = host(&Transformer::forward(&model, &plan, &input, None, &mut ()).expect("a")).1;
    let b = host(&Transformer::forward(&again, &plan, &input, None, &mut ()).expect("b")).1;
    assert_eq!(a, b);
    let src = SafetensorsFile::open(tiny().join("model.safetensors")).expect("open");
    let saved = SafetensorsFile::open(dir.join("model.safetensors")).expect("open");
    assert_eq!(src.names(), saved.names(), "same HF keys");
    for n in src.names() {
        assert_eq!(
            src.read(&n).expect("src"),
            saved.read(&n).expect("saved"),
            "{n}"
        );
    }
}

/// A JSON syntax error inside the `decoder` object made `tokenizers` 0.23 panic
/// (`expect("Helper")`; found by the `tokenizer_json` fuzz target on painters-llama's loader,
/// which reads `tokenizer.json` the same way): it is a tokenizer error naming the file.
#[test]
fn tokenizer_json_with_a_syntax_error_in_its_decoder_is_an_error_not_a_panic() {
    let dir = scratch("tokenizer-syntax");
    let path = dir.join("tokenizer.json");
    std::fs::write(
        &path,
        r#"{"decoder":{"type":"BPEDecoder" "suffix":"</w>"}}"#,
    )
    .expect("write");
    match BertTokenizer::from_file(&path) {
        Err(e @ BertError::Tokenizer { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("tokenizer.json"), "{msg}");
            assert!(msg.contains("expected `,` or `}`"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}
