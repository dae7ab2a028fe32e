//! Token ids for one forward call.

use super::DecoderError;

/// Token ids for one forward call, on the host: `batch` rows of `seq` ids each.
///
/// `attention_mask` (1 = real token, 0 = padding), when given, covers every key the call attends to:
/// the cached positions first, then the new ones (`batch × (past_len + seq)`), as in HF.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderInput {
    pub ids: Vec<u32>,
    pub batch: usize,
    pub seq: usize,
    pub attention_mask: Option<Vec<u8>>,
}

/// The name this type had when only Llama loaded.
pub type LlamaInput = DecoderInput;

impl DecoderInput {
    /// Rows of equal length, no padding.
    pub fn new(rows: &[Vec<u32>]) -> Result<Self, DecoderError> {
        let seq = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != seq) {
            return Err(DecoderError::Input(
                "rows of different lengths: pad them and pass an attention mask (DecoderInput::padded)".into(),
            ));
        }
        Ok(DecoderInput {
            ids: rows.concat(),
            batch: rows.len(),
            seq,
            attention_mask: None,
        })
    }

    /// Rows of different lengths, right-padded with `pad` and masked.
    pub fn padded(rows: &[Vec<u32>], pad: u32) -> Self {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut mask = Vec::with_capacity(rows.len() * seq);
        for r in rows {
            ids.extend_from_slice(r);
            ids.extend(std::iter::repeat_n(pad, seq - r.len()));
            mask.extend(std::iter::repeat_n(1u8, r.len()));
            mask.extend(std::iter::repeat_n(0u8, seq - r.len()));
        }
        DecoderInput {
            ids,
            batch: rows.len(),
            seq,
            attention_mask: Some(mask),
        }
    }

    /// That the ids fill `batch × seq` and the mask, if any, `batch × (past + seq)`.
    pub(crate) fn check(&self, past: usize) -> Result<(), DecoderError> {
        let (b, s) = (self.batch, self.seq);
        if self.ids.len() != b * s || s == 0 {
            return Err(DecoderError::Input(format!(
                "{} ids for batch {b} × seq {s}",
                self.ids.len()
            )));
        }
        let t = past + s;
        if let Some(m) = &self.attention_mask
            && m.len() != b * t
        {
            return Err(DecoderError::Input(format!(
                "attention_mask has {} entries, expected batch {b} × keys {t}",
                m.len()
            )));
        }
        Ok(())
    }

    /// Whether key `j` of row `row` is padding, in a call with `keys` keys per row.
    pub(crate) fn is_padding(&self, row: usize, j: usize, keys: usize) -> bool {
        self.attention_mask
            .as_ref()
            .is_some_and(|m| m[row * keys + j] == 0)
    }

    /// Rows `start..start + n` of an input that passed [`DecoderInput::check`].
    pub(crate) fn rows(&self, start: usize, n: usize) -> DecoderInput {
        if start == 0 && n == self.batch {
            return self.clone();
        }
        let s = self.seq;
        DecoderInput {
            ids: self.ids[start * s..(start + n) * s].to_vec(),
            batch: n,
            seq: s,
            attention_mask: self.attention_mask.as_ref().map(|m| {
                let t = m.len() / self.batch.max(1);
                m[start * t..(start + n) * t].to_vec()
            }),
        }
    }
}
