//! Healing text: WikiText-2's articles split into a training half and an evaluation half (no
//! article in both), tokenized, and cut into fixed-length windows.
//!
//! The split is by article, alternating: articles 0, 2, 4, … train and 1, 3, 5, … evaluate, so both
//! halves see the file's mix of topics (≈ 0.6 MB of text each; the file is WikiText-2's *test*
//! split, the only one under `data/`, see `data/wikitext2/README.md`). Each article is
//! detokenized as lm-eval's `wikitext` task does, and starts with the model's prefix token
//! (SmolLM2: `<|endoftext|>`) so that windows crossing an article boundary see it.

use std::path::{Path, PathBuf};

use crate::lm::{LmError, Tokenize};
use crate::tasks::data::{DataError, find_file, read_text};
use crate::tasks::wikitext::{articles, detokenize};

/// The two halves of a corpus, as article texts.
#[derive(Clone, Debug, PartialEq)]
pub struct TextSplit {
    /// The file the articles came from.
    pub path: PathBuf,
    pub train: Vec<String>,
    pub eval: Vec<String>,
}

impl TextSplit {
    /// Bytes of text in each half.
    pub fn bytes(&self) -> (usize, usize) {
        let n = |v: &[String]| v.iter().map(String::len).sum();
        (n(&self.train), n(&self.eval))
    }
}

/// WikiText-2 (`data_dir/wikitext2/test.txt`) cut into articles, even ones for training, odd ones
/// for evaluation, each detokenized.
pub fn wikitext_halves(data_dir: &Path) -> Result<TextSplit, DataError> {
    let path = find_file(
        "wikitext",
        data_dir,
        &["wikitext2/test.txt", "wikitext/test.txt"],
    )?;
    let pages = articles(&read_text(&path)?);
    if pages.len() < 2 {
        return Err(DataError::Empty { path });
    }
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (i, (_, page)) in pages.into_iter().enumerate() {
        let text = detokenize(&page);
        if i % 2 == 0 {
            train.push(text);
        } else {
            eval.push(text);
        }
    }
    Ok(TextSplit { path, train, eval })
}

/// The articles as one token stream, each article preceded by `prefix`.
pub fn token_stream(
    texts: &[String],
    tokenizer: &dyn Tokenize,
    prefix: u32,
) -> Result<Vec<u32>, LmError> {
    let mut out = Vec::new();
    for t in texts {
        out.push(prefix);
        out.extend(tokenizer.encode(t)?);
    }
    Ok(out)
}

/// Windows of `seq + 1` tokens (the model reads the first `seq`, and is scored on predicting the
/// last `seq`), consecutive windows overlapping by one token so that every token of the stream
/// after the first is a target exactly once. A shorter tail is dropped.
pub fn windows(stream: &[u32], seq: usize) -> Vec<Vec<u32>> {
    if seq == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start + seq < stream.len() {
        out.push(stream[start..start + seq + 1].to_vec());
        start += seq;
    }
    out
}

/// At most `n` of `windows`, spread evenly over the list (all of them when `n` is None or
/// larger): a deterministic subsample that still covers every part of the corpus.
pub fn spread(windows: &[Vec<u32>], n: Option<usize>) -> Vec<Vec<u32>> {
    match n {
        Some(n) if n < windows.len() => (0..n)
            .map(|i| windows[i * windows.len() / n].clone())
            .collect(),
        _ => windows.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_by_one_and_cover_every_target_once() {
        let stream: Vec<u32> = (0..10).collect();
        let w = windows(&stream, 3);
        assert_eq!(
            w,
            vec![vec![0, 1, 2, 3], vec![3, 4, 5, 6], vec![6, 7, 8, 9]]
        );
        let targets: Vec<u32> = w.iter().flat_map(|w| w[1..].to_vec()).collect();
        assert_eq!(targets, (1..10).collect::<Vec<_>>());
        assert!(windows(&stream, 0).is_empty());
        assert_eq!(spread(&w, Some(2)), vec![w[0].clone(), w[1].clone()]);
        assert_eq!(spread(&w, None), w);
    }

    #[test]
    fn wikitext_halves_share_no_article() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let split = wikitext_halves(&dir).unwrap();
        assert_eq!(split.train.len() + split.eval.len(), 62);
        assert!(split.train.iter().all(|t| !split.eval.contains(t)));
        let (a, b) = split.bytes();
        assert!(a > 500_000 && b > 500_000, "{a} {b}");
    }
}
