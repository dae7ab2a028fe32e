//! A batch of token ids on the host, validated before anything reaches the device.
//!
//! Ids stay on the host until the embedding uploads them because that is the only place where an
//! out-of-range id can be reported as an error: on the device it would be an out-of-bounds gather
//! (a panic, or garbage on some backends).

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::BertConfig;
use crate::error::InputError;

/// Token ids, token types and attention mask of a `[batch, seq]` batch, row-major, as HF's
/// `input_ids` / `token_type_ids` / `attention_mask` (int64 there, too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BertInput {
    batch: usize,
    seq: usize,
    input_ids: Vec<i64>,
    token_type_ids: Vec<i64>,
    attention_mask: Vec<i64>,
}

impl BertInput {
    /// A batch of `batch` rows of `seq` tokens. Absent token types are all 0 and an absent mask is
    /// all 1, as in HF.
    pub fn new(
        batch: usize,
        seq: usize,
        input_ids: Vec<i64>,
        token_type_ids: Option<Vec<i64>>,
        attention_mask: Option<Vec<i64>>,
    ) -> Result<Self, InputError> {
        if batch == 0 || seq == 0 {
            return Err(InputError::Empty { batch, seq });
        }
        let n = batch * seq;
        let check = |name, v: &Vec<i64>| {
            if v.len() == n {
                Ok(())
            } else {
                Err(InputError::Length {
                    name,
                    batch,
                    seq,
                    found: v.len(),
                })
            }
        };
        check("input_ids", &input_ids)?;
        let token_type_ids = token_type_ids.unwrap_or_else(|| vec![0; n]);
        check("token_type_ids", &token_type_ids)?;
        let attention_mask = attention_mask.unwrap_or_else(|| vec![1; n]);
        check("attention_mask", &attention_mask)?;
        Ok(BertInput {
            batch,
            seq,
            input_ids,
            token_type_ids,
            attention_mask,
        })
    }

    /// One unpadded sequence.
    pub fn single(ids: &[i64]) -> Result<Self, InputError> {
        Self::new(1, ids.len(), ids.to_vec(), None, None)
    }

    pub fn batch(&self) -> usize {
        self.batch
    }
    pub fn seq(&self) -> usize {
        self.seq
    }
    pub fn input_ids(&self) -> &[i64] {
        &self.input_ids
    }
    pub fn token_type_ids(&self) -> &[i64] {
        &self.token_type_ids
    }
    pub fn attention_mask(&self) -> &[i64] {
        &self.attention_mask
    }

    /// Rows `rows` of this batch, in the given order (mini-batching a tokenized data set).
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self, InputError> {
        if let Some(&row) = rows.iter().find(|&&r| r >= self.batch) {
            return Err(InputError::Row {
                row,
                batch: self.batch,
            });
        }
        let pick = |v: &[i64]| -> Vec<i64> {
            rows.iter()
                .flat_map(|&r| v[r * self.seq..(r + 1) * self.seq].iter().copied())
                .collect()
        };
        Self::new(
            rows.len(),
            self.seq,
            pick(&self.input_ids),
            Some(pick(&self.token_type_ids)),
            Some(pick(&self.attention_mask)),
        )
    }

    /// Check the batch against a model: length within the position table, every id, token type and
    /// mask value in range.
    pub fn validate(&self, cfg: &BertConfig) -> Result<(), InputError> {
        if self.seq > cfg.max_position_embeddings {
            return Err(InputError::TooLong {
                seq: self.seq,
                max: cfg.max_position_embeddings,
            });
        }
        for (name, values, limit) in [
            ("input_ids", &self.input_ids, cfg.vocab_size),
            ("token_type_ids", &self.token_type_ids, cfg.type_vocab_size),
            ("attention_mask", &self.attention_mask, 2),
        ] {
            if let Some(i) = values
                .iter()
                .position(|&v| v < 0 || v as u64 >= limit as u64)
            {
                return Err(InputError::OutOfRange {
                    name,
                    value: values[i],
                    row: i / self.seq,
                    pos: i % self.seq,
                    limit,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn ids_tensor(&self, device: &Device) -> Tensor<2, Int> {
        int_tensor(&self.input_ids, [self.batch, self.seq], device)
    }
    pub(crate) fn types_tensor(&self, device: &Device) -> Tensor<2, Int> {
        int_tensor(&self.token_type_ids, [self.batch, self.seq], device)
    }

    /// The mask as floats, `[batch, seq]` (1 = real token), for pooling.
    pub fn mask_tensor(&self, device: &Device) -> Tensor<2> {
        let data: Vec<f32> = self.attention_mask.iter().map(|&m| m as f32).collect();
        Tensor::from_data(TensorData::new(data, [self.batch, self.seq]), device)
    }

    /// HF's extended attention mask: `(1 - mask) * f32::MIN`, `[batch, 1, 1, seq]`. It is added to
    /// the attention scores, so padded *keys* get no weight; padded *query* rows are still computed.
    pub(crate) fn additive_mask(&self, device: &Device) -> Tensor<4> {
        let data: Vec<f32> = self
            .attention_mask
            .iter()
            .map(|&m| if m == 1 { 0.0 } else { f32::MIN })
            .collect();
        Tensor::from_data(TensorData::new(data, [self.batch, 1, 1, self.seq]), device)
    }
}

fn int_tensor(v: &[i64], shape: [usize; 2], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}
