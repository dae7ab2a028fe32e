//! Llama-architecture metadata and the attn_q / attn_k row permutation of llama.cpp's converter.

use super::{GgufError, GgufFile};

/// The hyper-parameters a Llama model needs, read from GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufLlamaMeta {
    /// Number of transformer blocks (`llama.block_count`).
    pub block_count: usize,
    /// Hidden size (`llama.embedding_length`).
    pub embedding_length: usize,
    /// MLP intermediate size (`llama.feed_forward_length`).
    pub feed_forward_length: usize,
    /// Attention (query) heads (`llama.attention.head_count`).
    pub head_count: usize,
    /// Key/value heads (`llama.attention.head_count_kv`); equals `head_count` without GQA.
    pub head_count_kv: usize,
    /// RoPE theta (`llama.rope.freq_base`).
    pub rope_freq_base: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// Trained context length (`llama.context_length`).
    pub context_length: usize,
    /// Vocabulary size: the length of `tokenizer.ggml.tokens`.
    pub vocab_size: usize,
    /// Rotated dimensions per head (`llama.rope.dimension_count`), when the file says.
    pub rope_dimension_count: Option<usize>,
}

impl GgufLlamaMeta {
    /// Per-head dimension: `embedding_length / head_count`.
    pub fn head_dim(&self) -> usize {
        self.embedding_length / self.head_count
    }
}

/// Reads the Llama hyper-parameters of `file`.
///
/// Checks `general.architecture == "llama"`, then reads the `llama.*` keys; a missing key is a
/// [`GgufError::MissingKey`] naming it. The one exception is `llama.attention.head_count_kv`,
/// which llama.cpp treats as optional (older files without grouped-query attention omit it) and
/// which then defaults to the head count. The values are sanity-checked (non-zero sizes, heads
/// dividing the hidden size, KV heads dividing the heads, an even head size for RoPE, positive
/// finite epsilon and theta) so that a model built from them cannot hit a division by zero or a
/// shape mismatch later; violations are [`GgufError::InvalidMetadata`] naming the key.
pub fn llama_config_from_gguf(file: &GgufFile) -> Result<GgufLlamaMeta, GgufError> {
    let arch = file.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(GgufError::WrongArchitecture {
            path: file.path().into(),
            expected: "llama",
            found: arch.into(),
        });
    }
    let invalid = |key: &str, reason: String| GgufError::InvalidMetadata {
        path: file.path().into(),
        key: key.into(),
        reason,
    };
    let positive = |key: &str| -> Result<usize, GgufError> {
        let v = file.get_usize(key)?;
        if v == 0 {
            return Err(invalid(key, "must be greater than zero".into()));
        }
        Ok(v)
    };
    let positive_f32 = |key: &str| -> Result<f32, GgufError> {
        let v = file.get_f32(key)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(invalid(
                key,
                format!("must be a positive finite number, got {v}"),
            ));
        }
        Ok(v)
    };

    let block_count = positive("llama.block_count")?;
    let embedding_length = positive("llama.embedding_length")?;
    let feed_forward_length = positive("llama.feed_forward_length")?;
    let head_count = positive("llama.attention.head_count")?;
    let head_count_kv = match file.metadata("llama.attention.head_count_kv") {
        Some(_) => positive("llama.attention.head_count_kv")?,
        None => head_count,
    };
    let rope_freq_base = positive_f32("llama.rope.freq_base")?;
    let rms_eps = positive_f32("llama.attention.layer_norm_rms_epsilon")?;
    let context_length = positive("llama.context_length")?;
    let vocab_size = file.get_str_array("tokenizer.ggml.tokens")?.len();
    if vocab_size == 0 {
        return Err(invalid("tokenizer.ggml.tokens", "is empty".into()));
    }

    if !embedding_length.is_multiple_of(head_count) {
        return Err(invalid(
            "llama.attention.head_count",
            format!("{head_count} heads do not divide the hidden size {embedding_length}"),
        ));
    }
    if !head_count.is_multiple_of(head_count_kv) {
        return Err(invalid(
            "llama.attention.head_count_kv",
            format!("{head_count_kv} KV heads do not divide the {head_count} query heads"),
        ));
    }
    let head_dim = embedding_length / head_count;
    if !head_dim.is_multiple_of(2) {
        return Err(invalid(
            "llama.attention.head_count",
            format!("head size {head_dim} is odd; RoPE rotates pairs"),
        ));
    }
    let rope_dimension_count = match file.metadata("llama.rope.dimension_count") {
        None => None,
        Some(_) => {
            let n = file.get_usize("llama.rope.dimension_count")?;
            if n == 0 || n > head_dim || !n.is_multiple_of(2) {
                return Err(invalid(
                    "llama.rope.dimension_count",
                    format!("{n} is not an even number in 1..={head_dim} (the head size)"),
                ));
            }
            Some(n)
        }
    };

    Ok(GgufLlamaMeta {
        block_count,
        embedding_length,
        feed_forward_length,
        head_count,
        head_count_kv,
        rope_freq_base,
        rms_eps,
        context_length,
        vocab_size,
        rope_dimension_count,
    })
}

fn check_rope_shape(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_heads: usize,
) -> Result<usize, GgufError> {
    let bad = || GgufError::BadRopeShape {
        rows,
        cols,
        n_heads,
        len: data.len(),
    };
    if n_heads == 0
        || !rows.is_multiple_of(2 * n_heads)
        || rows.checked_mul(cols) != Some(data.len())
    {
        return Err(bad());
    }
    Ok(rows / n_heads / 2)
}

/// Row `r` of the row-major `rows × cols` matrix.
fn row(data: &[f32], cols: usize, r: usize) -> &[f32] {
    &data[r * cols..(r + 1) * cols]
}

/// The permutation llama.cpp's HF→GGUF converter applies to `attn_q` / `attn_k` weight rows, so
/// that ggml's interleaved ("normal") RoPE, which rotates adjacent pairs `(2i, 2i+1)`, computes
/// what HF's `rotate_half` RoPE computes on pairs `(i, i + head_dim/2)`.
///
/// In numpy terms: `w.reshape(n_heads, 2, rows/n_heads/2, cols).swapaxes(1, 2).reshape(rows,
/// cols)`. Within each head, HF row `j * half + i` (`j` in 0..2, `i` in 0..half) becomes GGUF row
/// `2 * i + j`. `data` is row-major `rows × cols` (HF shape `[rows, cols]`, i.e. `[out, in]`);
/// `n_heads` is the query head count for `attn_q` and the KV head count for `attn_k`.
pub fn permute_rope_rows(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_heads: usize,
) -> Result<Vec<f32>, GgufError> {
    let half = check_rope_shape(data, rows, cols, n_heads)?;
    let head_rows = 2 * half;
    let mut out = Vec::with_capacity(data.len());
    for h in 0..n_heads {
        for i in 0..half {
            for j in 0..2 {
                out.extend_from_slice(row(data, cols, h * head_rows + j * half + i));
            }
        }
    }
    Ok(out)
}

/// Undoes [`permute_rope_rows`]: turns GGUF `attn_q` / `attn_k` rows back into HF order, so the
/// weights can be used with `rotate_half` RoPE. GGUF row `2 * i + j` of each head goes back to
/// HF row `j * half + i`. Same arguments as [`permute_rope_rows`].
pub fn unpermute_rope_rows(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_heads: usize,
) -> Result<Vec<f32>, GgufError> {
    let half = check_rope_shape(data, rows, cols, n_heads)?;
    let head_rows = 2 * half;
    let mut out = Vec::with_capacity(data.len());
    for h in 0..n_heads {
        for j in 0..2 {
            for i in 0..half {
                out.extend_from_slice(row(data, cols, h * head_rows + 2 * i + j));
            }
        }
    }
    Ok(out)
}
