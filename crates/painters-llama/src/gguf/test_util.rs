//! Test helpers: a tiny GGUF writer (independent of the reader) and temp-file handling.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// GGUF value type ids, spelled out here rather than taken from the reader.
pub mod ty {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Encodes a GGUF string.
pub fn enc_str(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// Encodes an array header (element type, count) followed by already-encoded elements.
pub fn enc_arr(elem_type: u32, count: u64, elems: &[u8]) -> Vec<u8> {
    let mut v = elem_type.to_le_bytes().to_vec();
    v.extend_from_slice(&count.to_le_bytes());
    v.extend_from_slice(elems);
    v
}

/// Encodes an array of strings.
pub fn enc_str_arr<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    let elems: Vec<u8> = items.iter().flat_map(|s| enc_str(s.as_ref())).collect();
    enc_arr(ty::STRING, items.len() as u64, &elems)
}

/// Encodes an array of i32.
pub fn enc_i32_arr(items: &[i32]) -> Vec<u8> {
    let elems: Vec<u8> = items.iter().flat_map(|x| x.to_le_bytes()).collect();
    enc_arr(ty::I32, items.len() as u64, &elems)
}

/// One tensor to write.
#[derive(Clone)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// `None`: placed after the previous tensor, padded to the alignment.
    pub offset: Option<u64>,
    pub data: Vec<u8>,
}

/// A GGUF file under construction. Fields can be overridden to produce lying files.
pub struct GgufBuilder {
    pub magic: [u8; 4],
    pub version: u32,
    pub kvs: Vec<(Vec<u8>, u32, Vec<u8>)>,
    pub tensors: Vec<TensorSpec>,
    pub alignment: u64,
    pub kv_count: Option<u64>,
    pub tensor_count: Option<u64>,
}

impl Default for GgufBuilder {
    fn default() -> Self {
        Self {
            magic: *b"GGUF",
            version: 3,
            kvs: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
            kv_count: None,
            tensor_count: None,
        }
    }
}

impl GgufBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key with an already-encoded value of type `type_id`.
    pub fn kv(mut self, key: &str, type_id: u32, value: Vec<u8>) -> Self {
        self.kvs.push((key.as_bytes().to_vec(), type_id, value));
        self
    }

    pub fn kv_u32(self, key: &str, v: u32) -> Self {
        self.kv(key, ty::U32, v.to_le_bytes().to_vec())
    }

    pub fn kv_f32(self, key: &str, v: f32) -> Self {
        self.kv(key, ty::F32, v.to_le_bytes().to_vec())
    }

    pub fn kv_bool(self, key: &str, v: bool) -> Self {
        self.kv(key, ty::BOOL, vec![u8::from(v)])
    }

    pub fn kv_str(self, key: &str, v: &str) -> Self {
        self.kv(key, ty::STRING, enc_str(v))
    }

    pub fn kv_str_arr<S: AsRef<str>>(self, key: &str, v: &[S]) -> Self {
        self.kv(key, ty::ARRAY, enc_str_arr(v))
    }

    pub fn tensor(mut self, name: &str, dims: &[u64], ggml_type: u32, data: Vec<u8>) -> Self {
        self.tensors.push(TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            ggml_type,
            offset: None,
            data,
        });
        self
    }

    /// F32 tensor from values.
    pub fn tensor_f32(self, name: &str, dims: &[u64], values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, dims, 0, data)
    }

    pub fn build(&self) -> Vec<u8> {
        let align = self.alignment as usize;
        let mut out = self.magic.to_vec();
        out.extend(self.version.to_le_bytes());
        let tc = self.tensor_count.unwrap_or(self.tensors.len() as u64);
        let kc = self.kv_count.unwrap_or(self.kvs.len() as u64);
        out.extend(tc.to_le_bytes());
        out.extend(kc.to_le_bytes());
        for (key, t, v) in &self.kvs {
            out.extend((key.len() as u64).to_le_bytes());
            out.extend(key);
            out.extend(t.to_le_bytes());
            out.extend(v);
        }
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for t in &self.tensors {
            while !data.len().is_multiple_of(align) {
                data.push(0);
            }
            offsets.push(t.offset.unwrap_or(data.len() as u64));
            data.extend(&t.data);
        }
        for (t, off) in self.tensors.iter().zip(&offsets) {
            out.extend(enc_str(&t.name));
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.ggml_type.to_le_bytes());
            out.extend(off.to_le_bytes());
        }
        if !self.tensors.is_empty() {
            while !out.len().is_multiple_of(align) {
                out.push(0);
            }
        }
        out.extend(data);
        out
    }

    /// Writes the file to a fresh temp path and returns it.
    pub fn write(&self, name: &str) -> PathBuf {
        write_tmp(name, &self.build())
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Writes `bytes` to a unique file under the system temp dir.
pub fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("painters-gguf-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{n}-{name}.gguf"));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// A minimal valid llama GGUF (metadata only, plus a byte-level BPE vocabulary).
pub fn llama_builder() -> GgufBuilder {
    GgufBuilder::new()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 2)
        .kv_u32("llama.context_length", 128)
        .kv_u32("llama.embedding_length", 64)
        .kv_u32("llama.feed_forward_length", 128)
        .kv_u32("llama.attention.head_count", 4)
        .kv_u32("llama.attention.head_count_kv", 2)
        .kv_f32("llama.rope.freq_base", 10000.0)
        .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .kv_u32("llama.rope.dimension_count", 16)
        .kv_str_arr("tokenizer.ggml.tokens", &["<s>", "a", "b", "ab"])
}
