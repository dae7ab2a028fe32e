//! Reading checkpoint tensors: HF safetensors (single file or sharded), memory-mapped.
//!
//! Adapters ask a [`TensorSource`] for tensors by their HF name, one at a time, and get f32 host data
//! with its shape. A source can be a safetensors checkpoint (here) or a GGUF file (in the Llama
//! adapter): the model code is the same for both. Reading through a memory map, one tensor at a time,
//! keeps peak memory at "the model plus one tensor", never "the model plus the file".
//!
//! We read safetensors with the `safetensors` crate directly rather than through burn-store's
//! `SafetensorsStore`: the adapters fuse projections (Q/K/V, gate/up) and transpose at load time, need
//! the same code path for GGUF, and must report missing or mis-shaped tensors by file and name.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata, SafeTensors};

/// The bytes of a checkpoint file: memory-mapped from disk, or owned (a file already in memory,
/// e.g. downloaded, embedded in a test, or a fuzzer's input). Parsers work on `&[u8]` either way.
pub enum FileBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Map `file` read-only.
    pub fn map(file: &File) -> std::io::Result<Self> {
        // SAFETY: the map is read-only and private to this value. A checkpoint modified by another
        // process while we read it could change the bytes we see, as with any read; it cannot make
        // parsed offsets point outside the map, whose length is fixed at creation, and every read
        // goes through bounds-checked slicing.
        Ok(FileBytes::Mapped(unsafe { Mmap::map(file) }?))
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// How a tensor's elements are stored, for [`RawTensor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawDtype {
    F32,
    F16,
    BF16,
}

/// A tensor's bytes as stored in the file, shared with the open file rather than copied: the
/// `range` of `owner` holds `shape`'s elements, row-major, little-endian.
#[derive(Clone)]
pub struct RawTensor {
    pub dtype: RawDtype,
    pub shape: Vec<usize>,
    pub owner: std::sync::Arc<FileBytes>,
    pub range: std::ops::Range<usize>,
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

/// What can go wrong reading weights. Every variant names the file, and the tensor where there is one.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: tensor `{tensor}` is missing{hint}")]
    Missing {
        path: PathBuf,
        tensor: String,
        hint: String,
    },
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    Shape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(
        "{path}: tensor `{tensor}` has dtype {dtype}, which is not supported here (supported: {supported})"
    )]
    Dtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
        supported: &'static str,
    },
    #[error("{path}: {message}")]
    Other { path: PathBuf, message: String },
}

/// A tensor read into host memory as f32, with its shape (outermost dimension first, as in PyTorch).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    /// Upload to a device as a rank-`D` tensor; the shape must have `D` dimensions.
    pub fn to_device<const D: usize>(self, device: &Device) -> Tensor<D> {
        let shape: [usize; D] = std::array::from_fn(|i| self.shape.get(i).copied().unwrap_or(1));
        Tensor::from_data(TensorData::new(self.data, shape), device)
    }

    /// The transpose of a matrix (`[r, c]` → `[c, r]`).
    pub fn transposed(&self) -> HostTensor {
        let (r, c) = (self.shape[0], self.shape.get(1).copied().unwrap_or(1));
        let mut out = vec![0.0; self.data.len()];
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = self.data[i * c + j];
            }
        }
        HostTensor {
            shape: vec![c, r],
            data: out,
        }
    }
}

/// Somewhere tensors can be read by name.
pub trait TensorSource {
    /// The file (or directory) this source reads, for error messages.
    fn path(&self) -> &Path;
    /// The shape of a tensor, or None when the source has no tensor of that name.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// Every tensor name the source holds (so a loader can refuse tensors it did not read).
    fn names(&self) -> Vec<String>;
    /// Read a floating-point tensor as f32.
    fn read(&self, name: &str) -> Result<HostTensor, WeightError>;

    /// The tensor's stored bytes without conversion or copy, where the source can give them
    /// (safetensors: F32, F16, BF16); `Ok(None)` where it cannot.
    fn raw(&self, name: &str) -> Result<Option<RawTensor>, WeightError> {
        let _ = name;
        Ok(None)
    }

    fn contains(&self, name: &str) -> bool {
        self.shape(name).is_some()
    }

    /// Read a tensor and check its shape.
    fn read_shaped(&self, name: &str, expected: &[usize]) -> Result<HostTensor, WeightError> {
        let found = self.shape(name).ok_or_else(|| WeightError::Missing {
            path: self.path().to_path_buf(),
            tensor: name.to_string(),
            hint: String::new(),
        })?;
        if found != expected {
            return Err(WeightError::Shape {
                path: self.path().to_path_buf(),
                tensor: name.to_string(),
                expected: expected.to_vec(),
                found,
            });
        }
        self.read(name)
    }
}

/// One memory-mapped safetensors file.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: std::sync::Arc<FileBytes>,
    header_len: usize,
    meta: Metadata,
}

impl SafetensorsFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WeightError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| WeightError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let bytes = FileBytes::map(&file).map_err(io)?;
        Self::from_bytes(bytes, path)
    }

    /// Parse a safetensors file that is already in memory; `path` names it in errors.
    pub fn from_bytes(bytes: FileBytes, path: impl Into<PathBuf>) -> Result<Self, WeightError> {
        let path = path.into();
        let (header_len, meta) =
            SafeTensors::read_metadata(&bytes).map_err(|e| WeightError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?;
        // read_metadata checks that the offsets are contiguous and cover the data exactly.
        Ok(SafetensorsFile {
            path,
            bytes: std::sync::Arc::new(bytes),
            header_len,
            meta,
        })
    }

    /// Names of all tensors in the file, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.meta.tensors().into_keys().collect();
        v.sort();
        v
    }

    fn bytes(&self, name: &str) -> Result<(Dtype, Vec<usize>, &[u8]), WeightError> {
        let (dtype, shape, range) = self.range(name)?;
        Ok((dtype, shape, &self.bytes[range]))
    }

    /// The dtype, shape and byte range in the file of tensor `name`.
    fn range(
        &self,
        name: &str,
    ) -> Result<(Dtype, Vec<usize>, std::ops::Range<usize>), WeightError> {
        let info = self.meta.info(name).ok_or_else(|| WeightError::Missing {
            path: self.path.clone(),
            tensor: name.to_string(),
            hint: String::new(),
        })?;
        let (s, e) = info.data_offsets;
        let start = 8 + self.header_len;
        let range = start + s..start + e;
        if self.bytes.get(range.clone()).is_none() {
            return Err(WeightError::Format {
                path: self.path.clone(),
                message: format!("tensor `{name}` points past the end of the file"),
            });
        }
        Ok((info.dtype, info.shape.clone(), range))
    }

    /// Read an integer tensor (I64 or I32) as i64, e.g. token ids of fixture inputs.
    pub fn read_i64(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>), WeightError> {
        let (dtype, shape, data) = self.bytes(name)?;
        let v = match dtype {
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::I32 => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64)
                .collect(),
            other => {
                return Err(WeightError::Dtype {
                    path: self.path.clone(),
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                    supported: "I64, I32",
                });
            }
        };
        Ok((shape, v))
    }
}

/// Converts little-endian f32 / f16 / bf16 bytes to f32.
fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

impl TensorSource for SafetensorsFile {
    fn names(&self) -> Vec<String> {
        SafetensorsFile::names(self)
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.meta.info(name).map(|i| i.shape.clone())
    }
    fn read(&self, name: &str) -> Result<HostTensor, WeightError> {
        let (dtype, shape, data) = self.bytes(name)?;
        let data = to_f32(dtype, data).ok_or_else(|| WeightError::Dtype {
            path: self.path.clone(),
            tensor: name.to_string(),
            dtype: format!("{dtype:?}"),
            supported: "F32, F16, BF16",
        })?;
        Ok(HostTensor { shape, data })
    }
    fn raw(&self, name: &str) -> Result<Option<RawTensor>, WeightError> {
        let (dtype, shape, range) = self.range(name)?;
        let dtype = match dtype {
            Dtype::F32 => RawDtype::F32,
            Dtype::F16 => RawDtype::F16,
            Dtype::BF16 => RawDtype::BF16,
            _ => return Ok(None),
        };
        Ok(Some(RawTensor {
            dtype,
            shape,
            owner: self.bytes.clone(),
            range,
        }))
    }
}

/// A HF checkpoint: `model.safetensors`, or shards listed in `model.safetensors.index.json`.
pub struct SafetensorsCheckpoint {
    root: PathBuf,
    files: Vec<SafetensorsFile>,
    /// Tensor name → index into `files`.
    index: HashMap<String, usize>,
}

impl SafetensorsCheckpoint {
    /// Open a checkpoint directory (or a single `.safetensors` file).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WeightError> {
        let path = path.as_ref();
        if path.is_file() {
            return Self::from_files(path.to_path_buf(), vec![path.to_path_buf()]);
        }
        let index_path = path.join("model.safetensors.index.json");
        if index_path.is_file() {
            let text = std::fs::read_to_string(&index_path).map_err(|source| WeightError::Io {
                path: index_path.clone(),
                source,
            })?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| WeightError::Format {
                    path: index_path.clone(),
                    message: e.to_string(),
                })?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| WeightError::Format {
                    path: index_path.clone(),
                    message: "no \"weight_map\" object".into(),
                })?;
            let mut shards: Vec<String> = map
                .values()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            shards.sort();
            shards.dedup();
            for s in &shards {
                if s.contains('/') || s.contains('\\') || s.contains("..") {
                    return Err(WeightError::Format {
                        path: index_path.clone(),
                        message: format!("shard name {s:?} is not a file name in this directory"),
                    });
                }
            }
            let files = shards.iter().map(|s| path.join(s)).collect();
            return Self::from_files(path.to_path_buf(), files);
        }
        let single = path.join("model.safetensors");
        if single.is_file() {
            return Self::from_files(path.to_path_buf(), vec![single]);
        }
        Err(WeightError::Other {
            path: path.to_path_buf(),
            message: "no model.safetensors or model.safetensors.index.json here".into(),
        })
    }

    fn from_files(root: PathBuf, paths: Vec<PathBuf>) -> Result<Self, WeightError> {
        let mut files = Vec::new();
        let mut index = HashMap::new();
        for p in paths {
            let f = SafetensorsFile::open(&p)?;
            for name in f.names() {
                if index.insert(name.clone(), files.len()).is_some() {
                    return Err(WeightError::Format {
                        path: p.clone(),
                        message: format!("tensor `{name}` appears in more than one shard"),
                    });
                }
            }
            files.push(f);
        }
        Ok(SafetensorsCheckpoint { root, files, index })
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.index.keys().cloned().collect();
        v.sort();
        v
    }
}

impl TensorSource for SafetensorsCheckpoint {
    fn names(&self) -> Vec<String> {
        SafetensorsCheckpoint::names(self)
    }
    fn path(&self) -> &Path {
        &self.root
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.index
            .get(name)
            .and_then(|&i| self.files[i].shape(name))
    }
    fn raw(&self, name: &str) -> Result<Option<RawTensor>, WeightError> {
        match self.index.get(name) {
            Some(&i) => self.files[i].raw(name),
            None => Ok(None),
        }
    }
    fn read(&self, name: &str) -> Result<HostTensor, WeightError> {
        match self.index.get(name) {
            Some(&i) => self.files[i].read(name),
            None => Err(WeightError::Missing {
                path: self.root.clone(),
                tensor: name.to_string(),
                hint: String::new(),
            }),
        }
    }
}
