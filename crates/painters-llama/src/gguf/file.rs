//! [`GgufFile`]: an open, memory-mapped GGUF file, its metadata getters and its tensors.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use painters::weights::FileBytes;
use painters_kernels::{QMatrix, WeightBytes};

use super::reader::parse;
use super::{DequantError, GgmlType, GgufArray, GgufError, GgufValue, HEADER_LEN, dequantize};

/// The file's bytes, shared by the [`GgufFile`] and every [`QMatrix`] it hands out.
struct SharedFile(FileBytes);

impl AsRef<[u8]> for SharedFile {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Where one tensor lives and what it holds, as described in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` (ggml `ne[0]`) varies fastest, i.e. is the row length.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset of the first byte relative to the start of the data section.
    pub offset: u64,
    /// Number of elements (product of `dims`; 1 for zero dimensions).
    pub n_elements: u64,
    /// Number of bytes the tensor occupies in the data section.
    pub n_bytes: u64,
}

impl GgufTensorInfo {
    /// The shape in PyTorch / Hugging Face order (slowest dimension first): `dims` reversed.
    pub fn hf_shape(&self) -> Vec<usize> {
        // A dim that does not fit in usize can only occur on 32-bit targets, where such a tensor
        // could not be loaded anyway (tensor_f32 reports it); saturate instead of panicking.
        self.dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect()
    }
}

/// An open, memory-mapped GGUF file with its parsed metadata and tensor table.
pub struct GgufFile {
    path: PathBuf,
    /// The mapping, shared with the matrices [`GgufFile::tensor_matrix`] returns (which keep it
    /// alive after the file is dropped).
    bytes: Arc<SharedFile>,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, GgufValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_len", &self.file_len())
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens, maps and validates a GGUF file. All metadata and tensor descriptions are parsed and
    /// every tensor's byte range is checked to lie inside the file, so later tensor reads cannot
    /// fail on bounds.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len < HEADER_LEN {
            // Checked before mapping: mapping an empty file is an error on some platforms, and
            // this gives the better message anyway.
            return Err(GgufError::Truncated {
                path,
                what: "GGUF header".into(),
                offset: 0,
                needed: HEADER_LEN,
                available: len,
            });
        }
        // As with every mmap-based model loader, another process truncating or rewriting the file
        // while it is mapped is outside what we can guard against; that is accepted in exchange
        // for not copying the weights into memory.
        let bytes = FileBytes::map(&file).map_err(io_err)?;
        Self::from_bytes(bytes, path)
    }

    /// Parses and validates a GGUF file that is already in memory (`path` names it in errors),
    /// with the same checks as [`GgufFile::open`].
    pub fn from_bytes(bytes: FileBytes, path: impl Into<PathBuf>) -> Result<Self, GgufError> {
        let path = path.into();
        let parsed = parse(&bytes, &path)?;
        Ok(Self {
            path,
            bytes: Arc::new(SharedFile(bytes)),
            version: parsed.version,
            alignment: parsed.alignment,
            data_offset: parsed.data_offset,
            metadata: parsed.metadata,
            metadata_index: parsed.metadata_index,
            tensors: parsed.tensors,
            tensor_index: parsed.tensor_index,
        })
    }

    /// The path this file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Data-section alignment in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the data section starts.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.0.len() as u64
    }

    /// The value stored under `key`, if any.
    pub fn metadata(&self, key: &str) -> Option<&GgufValue> {
        self.metadata_index
            .get(key)
            .and_then(|&i| self.metadata.get(i))
            .map(|(_, v)| v)
    }

    /// All metadata entries, in file order.
    pub fn metadata_entries(&self) -> impl Iterator<Item = (&str, &GgufValue)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn require(&self, key: &str) -> Result<&GgufValue, GgufError> {
        self.metadata(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.clone(),
            key: key.into(),
        })
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &GgufValue) -> GgufError {
        GgufError::WrongType {
            path: self.path.clone(),
            key: key.into(),
            expected,
            found: found.describe(),
        }
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, target: &'static str) -> Result<T, GgufError> {
        let v = self.require(key)?;
        let i = v
            .as_integer()
            .ok_or_else(|| self.wrong_type(key, "an integer", v))?;
        T::try_from(i).map_err(|_| GgufError::ValueOutOfRange {
            path: self.path.clone(),
            key: key.into(),
            value: i.to_string(),
            target,
        })
    }

    /// An integer value as u32. Any GGUF integer type is accepted when its value fits, because
    /// writers are not consistent about which width they use for counts and token ids.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        self.integer(key, "u32")
    }

    /// An integer value as u64 (any integer type whose value fits).
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.integer(key, "u64")
    }

    /// An integer value as i64 (any integer type whose value fits).
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        self.integer(key, "i64")
    }

    /// An integer value as usize (any integer type whose value fits).
    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        self.integer(key, "usize")
    }

    /// A float value as f32. F64 values are accepted and rounded to f32.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.require(key)?;
        match *v {
            GgufValue::F32(x) => Ok(x),
            GgufValue::F64(x) => Ok(x as f32),
            _ => Err(self.wrong_type(key, "f32", v)),
        }
    }

    /// A float value as f64 (F32 or F64).
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.require(key)?;
        v.as_float().ok_or_else(|| self.wrong_type(key, "f64", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| self.wrong_type(key, "bool", v))
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| self.wrong_type(key, "string", v))
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&GgufArray, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| self.wrong_type(key, "array", v))
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<&[String], GgufError> {
        let v = self.require(key)?;
        v.as_array()
            .and_then(GgufArray::as_strings)
            .ok_or_else(|| self.wrong_type(key, "array of string", v))
    }

    /// An array of integers as i32 (any integer element type whose values all fit).
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        let v = self.require(key)?;
        let ints = v
            .as_array()
            .and_then(GgufArray::to_integers)
            .ok_or_else(|| self.wrong_type(key, "array of integer", v))?;
        ints.into_iter()
            .map(|i| {
                i32::try_from(i).map_err(|_| GgufError::ValueOutOfRange {
                    path: self.path.clone(),
                    key: key.into(),
                    value: i.to_string(),
                    target: "i32",
                })
            })
            .collect()
    }

    /// An array of floats as f32 (F32 arrays as-is, F64 arrays rounded).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        let v = self.require(key)?;
        match v.as_array() {
            Some(GgufArray::F32(x)) => Ok(x.clone()),
            Some(GgufArray::F64(x)) => Ok(x.iter().map(|&f| f as f32).collect()),
            _ => Err(self.wrong_type(key, "array of f32", v)),
        }
    }

    /// All tensor descriptions, in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// The description of the tensor called `name`, if any.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensor_index
            .get(name)
            .and_then(|&i| self.tensors.get(i))
    }

    fn find_tensor(&self, name: &str) -> Result<&GgufTensorInfo, GgufError> {
        self.tensor_info(name)
            .ok_or_else(|| GgufError::TensorNotFound {
                path: self.path.clone(),
                tensor: name.into(),
            })
    }

    /// The byte range of a tensor in the file.
    fn byte_range(&self, info: &GgufTensorInfo) -> Result<std::ops::Range<usize>, GgufError> {
        let out_of_bounds = || GgufError::TensorOutOfBounds {
            path: self.path.clone(),
            tensor: info.name.clone(),
            start: self.data_offset.saturating_add(info.offset),
            size: info.n_bytes,
            file_len: self.file_len(),
        };
        // open() already checked these ranges; re-checking costs nothing and keeps this function
        // panic-free on its own.
        let start = self
            .data_offset
            .checked_add(info.offset)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(out_of_bounds)?;
        let len = usize::try_from(info.n_bytes).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        if end > self.bytes.0.len() {
            return Err(out_of_bounds());
        }
        Ok(start..end)
    }

    fn bytes_of(&self, info: &GgufTensorInfo) -> Result<&[u8], GgufError> {
        let range = self.byte_range(info)?;
        Ok(&self.bytes.0[range])
    }

    fn unsupported(&self, info: &GgufTensorInfo) -> GgufError {
        GgufError::UnsupportedTensorType {
            path: self.path.clone(),
            tensor: info.name.clone(),
            type_id: info.ggml_type.id(),
            type_name: info.ggml_type.name(),
        }
    }

    /// The raw stored bytes of a tensor (a slice of the mapping, no copy).
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8], GgufError> {
        let info = self.find_tensor(name)?;
        self.bytes_of(info)
    }

    /// Dequantises a tensor to f32.
    ///
    /// Returns the Hugging Face–order shape (GGUF dims reversed, so a GGUF `[576, 49152]`
    /// embedding comes back as `[49152, 576]`) and the values in row-major order for that shape,
    /// which is exactly the order ggml stores them in.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), GgufError> {
        let info = self.find_tensor(name)?;
        let bytes = self.bytes_of(info)?;
        let n = usize::try_from(info.n_elements).map_err(|_| GgufError::TensorTooLarge {
            path: self.path.clone(),
            tensor: info.name.clone(),
        })?;
        let values = dequantize(info.ggml_type, bytes, n).map_err(|e| match e {
            DequantError::Unsupported { .. } => self.unsupported(info),
            // open() sized n_bytes from n_elements with the same block table, so this cannot
            // happen for a tensor of an opened file; report it as a bounds problem if it does.
            DequantError::BadLength { .. } | DequantError::PartialBlock { .. } => {
                GgufError::TensorOutOfBounds {
                    path: self.path.clone(),
                    tensor: info.name.clone(),
                    start: self.data_offset.saturating_add(info.offset),
                    size: info.n_bytes,
                    file_len: self.file_len(),
                }
            }
        })?;
        Ok((info.hf_shape(), values))
    }

    /// A tensor as a [`QMatrix`] in its stored format (Q4_1 blocks stay Q4_1), borrowing the
    /// file's mapping without copying; the matrix keeps the mapping alive after this
    /// `GgufFile` is dropped.
    ///
    /// # Shapes
    ///
    /// `cols` is the row length (GGUF `dims[0]`, the last dimension of the Hugging Face shape)
    /// and `rows` the product of the other dimensions: a weight of HF shape `[out, in]` becomes
    /// an `out × in` matrix, a 1-D tensor one row.
    pub fn tensor_matrix(&self, name: &str) -> Result<QMatrix, GgufError> {
        let info = self.find_tensor(name)?;
        let range = self.byte_range(info)?;
        let ty = info
            .ggml_type
            .weight_type()
            .ok_or_else(|| self.unsupported(info))?;
        let too_large = || GgufError::TensorTooLarge {
            path: self.path.clone(),
            tensor: info.name.clone(),
        };
        let cols =
            usize::try_from(info.dims.first().copied().unwrap_or(1)).map_err(|_| too_large())?;
        let rows = info
            .dims
            .iter()
            .skip(1)
            .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
            .ok_or_else(too_large)?;
        let kernel_err = |source| GgufError::Matrix {
            path: self.path.clone(),
            tensor: info.name.clone(),
            source,
        };
        let shared: painters_kernels::SharedBuffer = self.bytes.clone();
        let bytes = WeightBytes::shared(shared, range).map_err(kernel_err)?;
        QMatrix::from_bytes(ty, rows, cols, bytes).map_err(kernel_err)
    }
}
