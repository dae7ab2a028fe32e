//! Tokenized examples and dynamic padding into mini-batches.
//!
//! HF's run_glue pads every example to `max_length`; padding each batch only to its longest row
//! gives the same outputs (pad keys are masked, pooling reads the first token) for less compute.

use painters_bert::{BertConfig, BertError, BertInput, BertTokenizer, InputError, check_label};

/// One tokenized example with its target: a class index (as a float) or a regression value.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub input_ids: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    pub label: f32,
}

/// A tokenized data set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub examples: Vec<Example>,
    /// The id that pads short rows (`pad_token_id`, 0 for BERT vocabularies).
    pub pad_id: i64,
}

impl Dataset {
    /// Tokenize `(text_a, text_b, label)` triples; `text_b` makes a sentence pair. Sequences are
    /// truncated to `max_length` tokens (run_glue's default is 128), which may not exceed what
    /// the tokenizer was made for.
    pub fn tokenize(
        tokenizer: &BertTokenizer,
        items: &[(&str, Option<&str>, f32)],
        max_length: usize,
    ) -> Result<Self, BertError> {
        let tokenizer = tokenizer.clone().with_max_length(max_length)?;
        let mut examples = Vec::with_capacity(items.len());
        for &(a, b, label) in items {
            let enc = match b {
                Some(b) => tokenizer.encode_pair(a, b)?,
                None => tokenizer.encode(a)?,
            };
            examples.push(Example {
                input_ids: enc.input_ids().to_vec(),
                token_type_ids: enc.token_type_ids().to_vec(),
                label,
            });
        }
        Ok(Dataset {
            examples,
            pad_id: tokenizer.pad_id() as i64,
        })
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Check every label against a head with `num_labels` outputs (1 = regression: any finite
    /// value; otherwise a class index `0..num_labels`).
    pub fn check_labels(&self, num_labels: usize) -> Result<(), InputError> {
        self.examples
            .iter()
            .enumerate()
            .try_for_each(|(i, e)| check_label(i, e.label, num_labels))
    }

    /// Check every example against the model before training starts (lengths, id ranges, token
    /// types), so that a bad example fails the run up front rather than at its first batch.
    /// Out-of-range errors report the example index as the row.
    pub fn check_inputs(&self, config: &BertConfig) -> Result<(), InputError> {
        for (i, e) in self.examples.iter().enumerate() {
            let input = BertInput::new(
                1,
                e.input_ids.len(),
                e.input_ids.clone(),
                Some(e.token_type_ids.clone()),
                None,
            )?;
            input.validate(config).map_err(|err| match err {
                InputError::OutOfRange {
                    name,
                    value,
                    pos,
                    limit,
                    ..
                } => InputError::OutOfRange {
                    name,
                    value,
                    row: i,
                    pos,
                    limit,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// The examples `rows`, right-padded to the longest, and their labels.
    pub fn batch(&self, rows: &[usize]) -> Result<(BertInput, Vec<f32>), InputError> {
        let mut picked = Vec::with_capacity(rows.len());
        for &r in rows {
            picked.push(self.examples.get(r).ok_or(InputError::Row {
                row: r,
                batch: self.examples.len(),
            })?);
        }
        let seq = picked.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
        let (mut ids, mut types, mut mask) = (Vec::new(), Vec::new(), Vec::new());
        for e in &picked {
            let pad = seq - e.input_ids.len();
            ids.extend(
                e.input_ids
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(self.pad_id, pad)),
            );
            let t = e.token_type_ids.iter().copied().chain(std::iter::repeat(0));
            types.extend(t.take(seq));
            mask.extend(
                std::iter::repeat_n(1, e.input_ids.len()).chain(std::iter::repeat_n(0, pad)),
            );
        }
        let input = BertInput::new(picked.len(), seq, ids, Some(types), Some(mask))?;
        Ok((input, picked.iter().map(|e| e.label).collect()))
    }
}
