//! The vocabulary kinds and pre-tokenizers painters rebuilds from GGUF metadata.

/// The `tokenizer.ggml.model` values painters builds.
pub const SUPPORTED_MODELS: &[&str] = &["gpt2", "llama"];

/// The `tokenizer.ggml.pre` values the byte-level BPE builder reproduces.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = &[
    "default",
    "gpt2",
    "smollm",
    "starcoder",
    "refact",
    "codeshell",
    "llama3",
    "llama-v3",
    "llama-bpe",
];
