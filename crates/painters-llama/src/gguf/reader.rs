//! Parsing the header, metadata and tensor table, with every count, length and offset checked
//! against the bytes that remain before anything is allocated or sliced.

use std::collections::HashMap;
use std::path::Path;

use super::{
    DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufArray, GgufError, GgufTensorInfo, GgufValue,
    GgufValueType, MAX_ARRAY_NESTING, MAX_DIMS, MIN_KV_LEN, MIN_TENSOR_INFO_LEN,
};

/// Everything [`parse`] extracts from the bytes.
pub(super) struct Parsed {
    pub(super) version: u32,
    pub(super) alignment: u64,
    pub(super) data_offset: u64,
    pub(super) metadata: Vec<(String, GgufValue)>,
    pub(super) metadata_index: HashMap<String, usize>,
    pub(super) tensors: Vec<GgufTensorInfo>,
    pub(super) tensor_index: HashMap<String, usize>,
}

/// A bounds-checked little-endian cursor over the file bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos.min(self.buf.len())) as u64
    }

    /// Takes the next `n` bytes. `what` describes the read for the error message and is only
    /// called on failure, so the hot path allocates nothing.
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let available = self.remaining();
        if n > available {
            return Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                what: what(),
                offset: self.pos as u64,
                needed: n,
                available,
            });
        }
        // n <= remaining <= buf.len(), so it fits in usize and the slice is in bounds.
        let n = n as usize;
        let end = self.pos + n;
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, GgufError> {
        Ok(self.fixed::<1>(what)?[0])
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.fixed(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.fixed(what)?))
    }

    /// Reads a GGUF string: u64 length (checked against the remaining bytes), then UTF-8.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(&|| format!("length of {}", what()))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::InvalidUtf8 {
            path: self.path.to_path_buf(),
            what: what(),
        })
    }

    /// Rejects `count` elements of at least `min_len` bytes each when they cannot fit.
    fn check_count(
        &self,
        count: u64,
        min_len: u64,
        what: &dyn Fn() -> String,
    ) -> Result<usize, GgufError> {
        let remaining = self.remaining();
        let max = remaining / min_len.max(1);
        if count > max {
            return Err(GgufError::CountTooLarge {
                path: self.path.to_path_buf(),
                what: what(),
                count,
                remaining,
                max,
            });
        }
        // count <= remaining <= buf.len(), so it fits in usize.
        Ok(count as usize)
    }
}

/// Reads `n` fixed-width little-endian values (`W` bytes each) into a vector.
fn read_fixed_vec<T, const W: usize>(
    r: &mut Reader<'_>,
    n: usize,
    what: &dyn Fn() -> String,
    convert: fn([u8; W]) -> T,
) -> Result<Vec<T>, GgufError> {
    // n was checked against the remaining bytes with W as the element size, so no overflow.
    let bytes = r.take((n as u64).saturating_mul(W as u64), what)?;
    Ok(bytes
        .chunks_exact(W)
        .map(|c| {
            let mut a = [0u8; W];
            a.copy_from_slice(c);
            convert(a)
        })
        .collect())
}

fn read_value(
    r: &mut Reader<'_>,
    ty: GgufValueType,
    key: &str,
    depth: usize,
) -> Result<GgufValue, GgufError> {
    let what = || format!("value of key '{key}'");
    Ok(match ty {
        GgufValueType::U8 => GgufValue::U8(r.u8(&what)?),
        GgufValueType::I8 => GgufValue::I8(i8::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U16 => GgufValue::U16(u16::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::I16 => GgufValue::I16(i16::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U32 => GgufValue::U32(r.u32(&what)?),
        GgufValueType::I32 => GgufValue::I32(i32::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::F32 => GgufValue::F32(f32::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U64 => GgufValue::U64(r.u64(&what)?),
        GgufValueType::I64 => GgufValue::I64(i64::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::F64 => GgufValue::F64(f64::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::Bool => GgufValue::Bool(to_bool(r.u8(&what)?, r.path, key)?),
        GgufValueType::String => GgufValue::String(r.string(&what)?),
        GgufValueType::Array => GgufValue::Array(read_array(r, key, depth + 1)?),
    })
}

fn to_bool(b: u8, path: &Path, key: &str) -> Result<bool, GgufError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(GgufError::InvalidBool {
            path: path.to_path_buf(),
            key: key.into(),
            value,
        }),
    }
}

fn read_array(r: &mut Reader<'_>, key: &str, depth: usize) -> Result<GgufArray, GgufError> {
    if depth > MAX_ARRAY_NESTING {
        return Err(GgufError::NestingTooDeep {
            path: r.path.to_path_buf(),
            key: key.into(),
        });
    }
    let elem_id = r.u32(&|| format!("array element type of key '{key}'"))?;
    let elem = GgufValueType::from_id(elem_id).ok_or_else(|| GgufError::UnknownValueType {
        path: r.path.to_path_buf(),
        key: key.into(),
        type_id: elem_id,
    })?;
    let count = r.u64(&|| format!("array length of key '{key}'"))?;
    let n = r.check_count(count, elem.min_encoded_len(), &|| {
        format!("array of {elem} under key '{key}'")
    })?;
    let what = || format!("array data of key '{key}'");
    Ok(match elem {
        GgufValueType::U8 => GgufArray::U8(r.take(n as u64, &what)?.to_vec()),
        GgufValueType::I8 => GgufArray::I8(read_fixed_vec(r, n, &what, i8::from_le_bytes)?),
        GgufValueType::U16 => GgufArray::U16(read_fixed_vec(r, n, &what, u16::from_le_bytes)?),
        GgufValueType::I16 => GgufArray::I16(read_fixed_vec(r, n, &what, i16::from_le_bytes)?),
        GgufValueType::U32 => GgufArray::U32(read_fixed_vec(r, n, &what, u32::from_le_bytes)?),
        GgufValueType::I32 => GgufArray::I32(read_fixed_vec(r, n, &what, i32::from_le_bytes)?),
        GgufValueType::F32 => GgufArray::F32(read_fixed_vec(r, n, &what, f32::from_le_bytes)?),
        GgufValueType::U64 => GgufArray::U64(read_fixed_vec(r, n, &what, u64::from_le_bytes)?),
        GgufValueType::I64 => GgufArray::I64(read_fixed_vec(r, n, &what, i64::from_le_bytes)?),
        GgufValueType::F64 => GgufArray::F64(read_fixed_vec(r, n, &what, f64::from_le_bytes)?),
        GgufValueType::Bool => {
            let bytes = r.take(n as u64, &what)?;
            let mut v = Vec::with_capacity(n);
            for &b in bytes {
                v.push(to_bool(b, r.path, key)?);
            }
            GgufArray::Bool(v)
        }
        GgufValueType::String => {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(r.string(&|| format!("element {i} of key '{key}'"))?);
            }
            GgufArray::String(v)
        }
        GgufValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_array(r, key, depth + 1)?);
            }
            GgufArray::Array(v)
        }
    })
}

/// Parses and validates the whole header, metadata and tensor table of `buf`.
pub(super) fn parse(buf: &[u8], path: &Path) -> Result<Parsed, GgufError> {
    let mut r = Reader { buf, pos: 0, path };
    let magic: [u8; 4] = r.fixed(&|| "GGUF magic".into())?;
    if magic != GGUF_MAGIC {
        return Err(GgufError::BadMagic {
            path: path.into(),
            found: magic,
        });
    }
    let version = r.u32(&|| "GGUF version".into())?;
    match version {
        2 | 3 => {}
        v if matches!(v.swap_bytes(), 1..=3) => {
            return Err(GgufError::BigEndian { path: path.into() });
        }
        // Version 1 used 32-bit counts and lengths; nothing current writes it.
        v => {
            return Err(GgufError::UnsupportedVersion {
                path: path.into(),
                version: v,
            });
        }
    }
    let tensor_count = r.u64(&|| "tensor count".into())?;
    let kv_count = r.u64(&|| "metadata entry count".into())?;
    let kv_n = r.check_count(kv_count, MIN_KV_LEN, &|| "metadata entry count".into())?;

    let mut metadata = Vec::with_capacity(kv_n);
    let mut metadata_index = HashMap::with_capacity(kv_n);
    for i in 0..kv_n {
        let key = r.string(&|| format!("key of metadata entry {i}"))?;
        let type_id = r.u32(&|| format!("value type of key '{key}'"))?;
        let ty = GgufValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
            path: path.into(),
            key: key.clone(),
            type_id,
        })?;
        let value = read_value(&mut r, ty, &key, 0)?;
        if metadata_index.insert(key.clone(), metadata.len()).is_some() {
            return Err(GgufError::DuplicateKey {
                path: path.into(),
                key,
            });
        }
        metadata.push((key, value));
    }

    let alignment = match metadata_index
        .get("general.alignment")
        .map(|&i| &metadata[i].1)
    {
        None => DEFAULT_ALIGNMENT,
        Some(GgufValue::U32(a)) if a.is_power_of_two() => u64::from(*a),
        Some(GgufValue::U32(a)) => {
            return Err(GgufError::InvalidAlignment {
                path: path.into(),
                found: a.to_string(),
            });
        }
        Some(other) => {
            return Err(GgufError::InvalidAlignment {
                path: path.into(),
                found: format!("a value of type {}", other.describe()),
            });
        }
    };

    let tensor_n = r.check_count(tensor_count, MIN_TENSOR_INFO_LEN, &|| "tensor count".into())?;
    let mut tensors: Vec<GgufTensorInfo> = Vec::with_capacity(tensor_n);
    let mut tensor_index = HashMap::with_capacity(tensor_n);
    for i in 0..tensor_n {
        let name = r.string(&|| format!("name of tensor {i}"))?;
        let info = read_tensor_info(&mut r, name)?;
        if tensor_index
            .insert(info.name.clone(), tensors.len())
            .is_some()
        {
            return Err(GgufError::DuplicateTensor {
                path: path.into(),
                tensor: info.name,
            });
        }
        tensors.push(info);
    }

    let file_len = buf.len() as u64;
    let header_end = r.pos as u64;
    // The data section starts at the next multiple of the alignment after the tensor table.
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| GgufError::Truncated {
            path: path.into(),
            what: "data section".into(),
            offset: header_end,
            needed: alignment,
            available: 0,
        })?;
    for t in &tensors {
        if !t.offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                path: path.into(),
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        if end.is_none_or(|e| e > file_len) {
            return Err(GgufError::TensorOutOfBounds {
                path: path.into(),
                tensor: t.name.clone(),
                start: start.unwrap_or(u64::MAX),
                size: t.n_bytes,
                file_len,
            });
        }
    }

    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        metadata_index,
        tensors,
        tensor_index,
    })
}

/// Reads the rest of one tensor description (after its name) and computes its element count and
/// byte size with overflow checks.
fn read_tensor_info(r: &mut Reader<'_>, name: String) -> Result<GgufTensorInfo, GgufError> {
    let path = r.path;
    let n_dims = r.u32(&|| format!("dimension count of tensor '{name}'"))?;
    if n_dims as usize > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            path: path.into(),
            tensor: name,
            n_dims,
        });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(r.u64(&|| format!("dimension {d} of tensor '{name}'"))?);
    }
    let type_id = r.u32(&|| format!("type of tensor '{name}'"))?;
    let offset = r.u64(&|| format!("data offset of tensor '{name}'"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownTensorType {
            path: path.into(),
            tensor: name,
            type_id,
        });
    };

    // ggml stores dims as int64, so anything above i64::MAX is as bad as an overflow.
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64);
    let Some(n_elements) = n_elements else {
        return Err(GgufError::DimsOverflow {
            path: path.into(),
            tensor: name,
            dims,
        });
    };
    let block = ggml_type.block_size() as u64;
    let row_len = dims.first().copied().unwrap_or(1);
    if !row_len.is_multiple_of(block) {
        return Err(GgufError::RowNotBlockAligned {
            path: path.into(),
            tensor: name,
            ggml_type: ggml_type.name(),
            row_len,
            block_size: block,
        });
    }
    // Whole rows are whole blocks, so bytes = elements / block * block_bytes exactly.
    let Some(n_bytes) = (n_elements / block).checked_mul(ggml_type.type_size() as u64) else {
        return Err(GgufError::DimsOverflow {
            path: path.into(),
            tensor: name,
            dims,
        });
    };
    Ok(GgufTensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        n_elements,
        n_bytes,
    })
}
