//! A GGUF (version 3) writer: metadata key/values, tensor descriptions, then the tensor data, each
//! tensor at an offset aligned to the file's alignment. The layout is the one
//! [`crate::gguf`] reads (see its module docs); tensor bytes are written as given (quantised blocks
//! are copied, never re-encoded).

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::gguf::{GgmlType, GgufArray, GgufValue};

/// One tensor to write: its name, GGUF dims (fastest-varying first), type and stored bytes.
pub(crate) struct GgufTensorOut<'a> {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    pub data: &'a [u8],
}

/// A GGUF file to write.
pub(crate) struct GgufOut<'a> {
    pub alignment: u64,
    pub metadata: Vec<(String, GgufValue)>,
    pub tensors: Vec<GgufTensorOut<'a>>,
}

fn put_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn put_array(w: &mut impl Write, a: &GgufArray) -> std::io::Result<()> {
    w.write_all(&a.element_type().id().to_le_bytes())?;
    w.write_all(&(a.len() as u64).to_le_bytes())?;
    match a {
        GgufArray::U8(v) => w.write_all(v),
        GgufArray::I8(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::U16(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::I16(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::U32(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::I32(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::F32(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::Bool(v) => v.iter().try_for_each(|&x| w.write_all(&[u8::from(x)])),
        GgufArray::String(v) => v.iter().try_for_each(|s| put_str(w, s)),
        GgufArray::Array(v) => v.iter().try_for_each(|a| put_array(w, a)),
        GgufArray::U64(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::I64(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
        GgufArray::F64(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes())),
    }
}

fn put_value(w: &mut impl Write, v: &GgufValue) -> std::io::Result<()> {
    w.write_all(&v.value_type().id().to_le_bytes())?;
    match v {
        GgufValue::U8(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I8(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::U16(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I16(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::U32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::F32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::Bool(x) => w.write_all(&[u8::from(*x)]),
        GgufValue::String(s) => put_str(w, s),
        GgufValue::Array(a) => put_array(w, a),
        GgufValue::U64(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I64(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::F64(x) => w.write_all(&x.to_le_bytes()),
    }
}

/// Zero bytes that bring `pos` to a multiple of `align`.
fn padding(pos: u64, align: u64) -> u64 {
    (align - pos % align) % align
}

/// Writes `file` to `path`; returns the bytes of tensor data written.
pub(crate) fn write(path: &Path, file: &GgufOut<'_>) -> std::io::Result<u64> {
    let align = file.alignment.max(1);
    let f = std::fs::File::create(path)?;
    let mut w = CountingWriter {
        inner: BufWriter::with_capacity(1 << 20, f),
        pos: 0,
    };
    w.write_all(b"GGUF")?;
    w.write_all(&3u32.to_le_bytes())?;
    w.write_all(&(file.tensors.len() as u64).to_le_bytes())?;
    w.write_all(&(file.metadata.len() as u64).to_le_bytes())?;
    for (k, v) in &file.metadata {
        put_str(&mut w, k)?;
        put_value(&mut w, v)?;
    }
    let mut offset = 0u64;
    for t in &file.tensors {
        put_str(&mut w, &t.name)?;
        w.write_all(&(t.dims.len() as u32).to_le_bytes())?;
        for d in &t.dims {
            w.write_all(&d.to_le_bytes())?;
        }
        w.write_all(&t.ggml_type.id().to_le_bytes())?;
        w.write_all(&offset.to_le_bytes())?;
        offset += t.data.len() as u64;
        offset += padding(offset, align);
    }
    let pad = padding(w.pos, align);
    w.write_all(&vec![0u8; pad as usize])?;
    let mut data = 0u64;
    for t in &file.tensors {
        w.write_all(t.data)?;
        data += t.data.len() as u64;
        let pad = padding(t.data.len() as u64, align);
        w.write_all(&vec![0u8; pad as usize])?;
    }
    w.inner.flush()?;
    w.inner.get_ref().sync_all()?;
    Ok(data)
}

/// Counts the bytes written, to pad the header to the alignment.
struct CountingWriter<W: Write> {
    inner: W,
    pos: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;

    #[test]
    fn what_is_written_reads_back() {
        let q8: Vec<u8> = (0..34u8).collect(); // one Q8_0 block of 32 elements
        let f32s: Vec<u8> = [1.5f32, -2.0, 3.25]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let file = GgufOut {
            alignment: 32,
            metadata: vec![
                (
                    "general.architecture".into(),
                    GgufValue::String("llama".into()),
                ),
                ("llama.block_count".into(), GgufValue::U32(7)),
                ("x.f64".into(), GgufValue::F64(0.25)),
                (
                    "x.bools".into(),
                    GgufValue::Array(GgufArray::Bool(vec![true, false])),
                ),
                (
                    "x.nested".into(),
                    GgufValue::Array(GgufArray::Array(vec![GgufArray::String(vec![
                        "a".into(),
                        "bc".into(),
                    ])])),
                ),
            ],
            tensors: vec![
                GgufTensorOut {
                    name: "a".into(),
                    dims: vec![3],
                    ggml_type: GgmlType::F32,
                    data: &f32s,
                },
                GgufTensorOut {
                    name: "b".into(),
                    dims: vec![32, 1],
                    ggml_type: GgmlType::Q8_0,
                    data: &q8,
                },
            ],
        };
        let path =
            std::env::temp_dir().join(format!("painters-gguf-writer-{}.gguf", std::process::id()));
        write(&path, &file).unwrap();
        let g = GgufFile::open(&path).unwrap();
        assert_eq!(g.version(), 3);
        assert_eq!(g.get_u32("llama.block_count").unwrap(), 7);
        assert_eq!(g.get_f64("x.f64").unwrap(), 0.25);
        assert_eq!(g.metadata("x.bools"), Some(&file.metadata[3].1));
        assert_eq!(g.metadata("x.nested"), Some(&file.metadata[4].1));
        assert_eq!(g.tensor_f32("a").unwrap(), (vec![3], vec![1.5, -2.0, 3.25]));
        assert_eq!(g.tensor_bytes("b").unwrap(), &q8[..]);
        assert_eq!(g.tensor_info("b").unwrap().offset % 32, 0);
        std::fs::remove_file(&path).unwrap();
    }
}
