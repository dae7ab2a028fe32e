//! Rotary position embeddings: the frequency schedule of one RoPE table.
//!
//! HF computes inverse frequencies in float32 from `arange(0, dim, 2) / dim` over the *rotated*
//! dimensions of a head (all of them, or `partial_rotary_factor · head_dim`), applies the configured
//! scaling, and rotates pairs `(d, d + dim/2)` within the rotated part (`rotate_half`).

use std::path::Path;

use super::error::ConfigError;

/// RoPE frequency scaling.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// `linear`: positions divided by `factor` (inverse frequencies divided by it).
    Linear { factor: f64 },
    /// `llama3` (Llama 3.1 / 3.2): low frequencies divided by `factor`, high ones kept, smooth between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
    /// Inverse frequency `i` divided by `factors[i]`: Llama 3's scaling as llama.cpp's GGUF files
    /// store it (the `rope_freqs.weight` tensor).
    Factors(Vec<f32>),
}

/// One RoPE table: its base, scaling and how many dimensions of each head it rotates.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    pub theta: f64,
    pub scaling: RopeScaling,
    /// Rotated dimensions per head (even; `head_dim` unless the family rotates only part of it).
    pub rotary_dims: usize,
}

impl RopeSpec {
    /// Inverse frequencies (`rotary_dims / 2` of them), with the scaling applied, computed in f32
    /// as HF computes them from `arange`.
    pub fn inv_freq(&self) -> Vec<f32> {
        let dim = self.rotary_dims;
        (0..dim / 2)
            .map(|i| {
                if let RopeScaling::Factors(factors) = &self.scaling {
                    let f = 1.0 / (self.theta as f32).powf((2 * i) as f32 / dim as f32);
                    return f / factors.get(i).copied().unwrap_or(1.0);
                }
                let exponent = (2 * i) as f32 / dim as f32;
                let f = 1.0 / (self.theta as f32).powf(exponent);
                match self.scaling {
                    RopeScaling::None | RopeScaling::Factors(_) => f,
                    RopeScaling::Linear { factor } => f / factor as f32,
                    RopeScaling::Llama3 {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_max_position_embeddings: old,
                    } => {
                        let (factor, lo, hi, old) = (
                            factor as f32,
                            low_freq_factor as f32,
                            high_freq_factor as f32,
                            old as f32,
                        );
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        let (low_wavelen, high_wavelen) = (old / lo, old / hi);
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - lo) / (hi - lo);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    }
                }
            })
            .collect()
    }
}

/// The scaling described by a `rope_scaling` object (classic) or a `rope_parameters` object
/// (transformers ≥ 5); `field` names it in errors.
pub(crate) fn parse_scaling(
    o: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
    path: &Path,
) -> Result<RopeScaling, ConfigError> {
    let kind = o
        .get("rope_type")
        .or_else(|| o.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let num = |k: &'static str| -> Result<f64, ConfigError> {
        o.get(k)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| ConfigError::Missing {
                path: path.to_path_buf(),
                field: k,
            })
    };
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: num("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: num("factor")?,
            low_freq_factor: num("low_freq_factor")?,
            high_freq_factor: num("high_freq_factor")?,
            original_max_position_embeddings: num("original_max_position_embeddings")?,
        },
        other => {
            return Err(ConfigError::Unsupported {
                path: path.to_path_buf(),
                field,
                value: other.to_string(),
                reason: "supported RoPE types: default, linear, llama3".into(),
            });
        }
    })
}
