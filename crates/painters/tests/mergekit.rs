//! mergekit passthrough recipes ↔ schedules: the published-style recipes under
//! `tests/fixtures-mergekit/` read as the schedules mergekit's half-open `layer_range` defines
//! (expected values written by hand from that definition), round trips, and the refusals.

use std::path::PathBuf;

use painters::LayerSchedule;
use painters::mergekit::{MergekitError, from_yaml, to_yaml};

fn recipe(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures-mergekit")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Blocks `a..b` for each range, in order: what mergekit's `range(*layer_range)` copies.
fn layers(ranges: &[(usize, usize)]) -> Vec<usize> {
    ranges.iter().flat_map(|&(a, b)| a..b).collect()
}

fn recipe_error(text: &str, layers: Option<usize>) -> String {
    from_yaml(text, layers).unwrap_err().to_string()
}

#[test]
fn published_style_recipes_read_as_schedules_and_round_trip() {
    let cases = [
        (
            "prune-llama2-7b.yml",
            "meta-llama/Llama-2-7b-hf",
            vec![(0, 20), (24, 32)],
            "float16",
        ),
        (
            "rys-duplicate-middle.yml",
            "mistralai/Mistral-7B-v0.1",
            vec![(0, 16), (8, 24), (16, 32)],
            "bfloat16",
        ),
        (
            "self-interleave.yml",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            vec![
                (0, 8),
                (4, 12),
                (8, 16),
                (12, 20),
                (16, 24),
                (20, 28),
                (24, 32),
            ],
            "bfloat16",
        ),
    ];
    for (file, model, ranges, dtype) in cases {
        let r = from_yaml(&recipe(file), Some(32)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.model, model, "{file}");
        assert_eq!(r.dtype.as_deref(), Some(dtype), "{file}");
        assert_eq!(
            r.slices,
            ranges.iter().map(|&(a, b)| a..b).collect::<Vec<_>>(),
            "{file}"
        );
        assert_eq!(r.schedule.block_applications(), layers(&ranges), "{file}");
        // schedule → YAML → schedule gives the same layers, model and dtype, and the written
        // recipe has the same slices as the published one.
        let yaml = to_yaml(&r.schedule, model, Some(32), Some(dtype)).unwrap();
        let back = from_yaml(&yaml, Some(32)).unwrap_or_else(|e| panic!("{file}: {e}\n{yaml}"));
        assert_eq!(back, r, "{file}:\n{yaml}");
    }
}

#[test]
fn the_written_recipe_has_mergekits_shape() {
    let s: LayerSchedule = "0..20, 24..32".parse().unwrap();
    let yaml = to_yaml(&s, "meta-llama/Llama-2-7b-hf", Some(32), Some("float16")).unwrap();
    assert!(yaml.starts_with("slices:\n"), "{yaml}");
    assert!(yaml.contains("layer_range: [0, 20]"), "{yaml}");
    assert!(yaml.contains("layer_range: [24, 32]"), "{yaml}");
    assert!(yaml.contains("merge_method: passthrough"), "{yaml}");
    assert!(yaml.contains("dtype: float16"), "{yaml}");
    assert_eq!(yaml.matches("- sources:").count(), 2, "{yaml}");
}

#[test]
fn any_sequence_schedule_round_trips() {
    for text in [
        "0..=5",
        "5..=0",
        "0, 1, 3x4, 2, 4..6",
        "0..3, 1..4, (2, 3)x2",
        "7",
    ] {
        let s: LayerSchedule = text.parse().unwrap();
        let yaml = to_yaml(&s, "org/model", Some(8), None).unwrap();
        let r = from_yaml(&yaml, Some(8)).unwrap();
        assert_eq!(
            r.schedule.block_applications(),
            s.block_applications(),
            "{text}:\n{yaml}"
        );
        assert_eq!(r.model, "org/model");
        assert_eq!(r.dtype, None);
    }
    // Reversed blocks are one slice each.
    let yaml = to_yaml(&"3..=1".parse().unwrap(), "m", None, None).unwrap();
    assert_eq!(yaml.matches("- sources:").count(), 3, "{yaml}");
}

#[test]
fn parallel_schedules_cannot_be_recipes() {
    let s: LayerSchedule = "0..=3, par(4..=6)x2, 7".parse().unwrap();
    let e = to_yaml(&s, "m", Some(8), None).unwrap_err();
    assert!(matches!(e, MergekitError::NotAStack(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.starts_with("step 4 (`par(4..=6)x2`) averages the outputs of 3 branches"),
        "{e}"
    );
    let e = to_yaml(&"0, 9".parse().unwrap(), "m", Some(8), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("block 9 is out of range"), "{e}");
}

#[test]
fn refusals_name_the_key_and_slice() {
    let e = recipe_error(&recipe("two-models.yml"), None);
    assert!(
        e.starts_with("mergekit recipe, `slices[1].sources[0].model`"),
        "{e}"
    );
    assert!(e.contains("example-org/llama-2-13b-chat-finetune-b"), "{e}");
    assert!(e.contains("recipes mixing models are refused"), "{e}");

    let slerp = "models:\n  - model: a\n  - model: b\nmerge_method: slerp\nbase_model: a\n";
    let e = recipe_error(slerp, None);
    assert!(e.starts_with("mergekit recipe, `merge_method`"), "{e}");
    assert!(e.contains("\"slerp\""), "{e}");

    let whole = "models:\n  - model: a\nmerge_method: passthrough\n";
    assert!(recipe_error(whole, None).starts_with("mergekit recipe, `models`"));

    let blend = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\n    - model: a\n      layer_range: [4, 8]\nmerge_method: passthrough\n";
    let e = recipe_error(blend, None);
    assert!(e.starts_with("mergekit recipe, `slices[0].sources`"), "{e}");
    assert!(e.contains("has 2 entries"), "{e}");

    let scaled = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\n      parameters:\n        scale: 0.5\nmerge_method: passthrough\n";
    let e = recipe_error(scaled, None);
    assert!(
        e.starts_with("mergekit recipe, `slices[0].sources[0].parameters.scale`"),
        "{e}"
    );
    assert!(e.contains("multiplies the slice's weights"), "{e}");

    let top_scale = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\nmerge_method: passthrough\nparameters:\n  scale:\n    - filter: down_proj\n      value: 0.5\n";
    assert!(recipe_error(top_scale, None).starts_with("mergekit recipe, `parameters.scale`"));

    let past_end = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 20]\n  - sources:\n    - model: a\n      layer_range: [24, 33]\nmerge_method: passthrough\n";
    let e = recipe_error(past_end, Some(32));
    assert!(
        e.starts_with("mergekit recipe, `slices[1].sources[0].layer_range`"),
        "{e}"
    );
    assert!(
        e.contains("[24, 33] reaches past the model's last layer: it has 32 layers"),
        "{e}"
    );
    // Without a layer count the range is taken as written.
    assert_eq!(
        from_yaml(past_end, None).unwrap().slices,
        vec![0..20, 24..33]
    );

    let empty = "slices:\n  - sources:\n    - model: a\n      layer_range: [4, 4]\nmerge_method: passthrough\n";
    assert!(recipe_error(empty, None).contains("[4, 4] is empty"));

    let other_tok = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\nmerge_method: passthrough\ntokenizer_source: b\n";
    assert!(recipe_error(other_tok, None).starts_with("mergekit recipe, `tokenizer_source`"));

    let typo = "slices:\n  - sources:\n    - model: a\n      layer_rnage: [0, 4]\nmerge_method: passthrough\n";
    let e = recipe_error(typo, None);
    assert!(
        e.starts_with("mergekit recipe, `slices[0].sources[0].layer_rnage`: unknown key"),
        "{e}"
    );

    let weighted = "slices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\n    residual_weight: 0.5\nmerge_method: passthrough\n";
    assert!(
        recipe_error(weighted, None).starts_with("mergekit recipe, `slices[0].residual_weight`")
    );

    let e = recipe_error("slices: [\n", None);
    assert!(e.starts_with("mergekit recipe: not valid YAML"), "{e}");
    let e = recipe_error(
        "slices:\n  - sources: []\nslices: []\nmerge_method: passthrough\n",
        None,
    );
    assert!(
        e.starts_with("mergekit recipe: not valid YAML"),
        "duplicate keys: {e}"
    );
}

#[test]
fn harmless_keys_are_accepted() {
    let text = "base_model: a\nslices:\n  - sources:\n    - model: a\n      layer_range: [0, 4]\n    base_model: a\nmerge_method: passthrough\ndtype: bfloat16\nout_dtype: float16\ntokenizer:\n  source: base\nchat_template: chatml\n";
    let r = from_yaml(text, Some(4)).unwrap();
    assert_eq!(r.schedule, LayerSchedule::full(4));
    assert_eq!(r.dtype.as_deref(), Some("float16"));
    let base_other = text.replace("base_model: a\nslices", "base_model: b\nslices");
    assert!(recipe_error(&base_other, None).starts_with("mergekit recipe, `base_model`"));
}
