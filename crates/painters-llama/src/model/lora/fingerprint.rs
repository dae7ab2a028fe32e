//! A fingerprint of a model's weights (to show nothing changed them).

use burn::tensor::Tensor;

use crate::model::weight::Weight;
use crate::model::{DecoderModel, Table};

impl DecoderModel {
    /// A fingerprint of every weight the model holds (embedding, blocks, norms, head), to check
    /// that nothing changed them: equal fingerprints mean bit-identical weights (up to hash
    /// collisions). Reads every tensor back to the host.
    pub fn weight_fingerprint(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match &self.embed {
            Table::Dense(t) => hash_tensor(&mut h, t),
            Table::Packed(q) => h.write(q.bytes()),
        }
        if let Some(w) = &self.head {
            hash_weight(&mut h, w);
        }
        hash_norm(&mut h, &self.norm);
        for b in &self.blocks {
            for l in [&b.qkv, &b.o, &b.up, &b.down] {
                hash_weight(&mut h, &l.w);
                if let Some(bias) = &l.b {
                    hash_tensor(&mut h, bias);
                }
            }
            for n in [
                Some(&b.attn_norm),
                b.q_norm.as_ref(),
                b.k_norm.as_ref(),
                b.post_attn_norm.as_ref(),
                Some(&b.mlp_norm),
                b.post_mlp_norm.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                hash_norm(&mut h, n);
            }
        }
        h.finish()
    }
}

fn hash_tensor<const D: usize>(h: &mut impl std::hash::Hasher, t: &Tensor<D>) {
    h.write(t.clone().into_data().as_bytes());
}

fn hash_weight(h: &mut impl std::hash::Hasher, w: &Weight) {
    match w {
        Weight::Dense(t) => hash_tensor(h, &**t),
        Weight::Packed { parts, columns } => {
            parts.iter().for_each(|p| h.write(p.bytes()));
            if let Some(c) = columns {
                c.iter().for_each(|&i| h.write_usize(i));
            }
        }
    }
}

fn hash_norm(h: &mut impl std::hash::Hasher, n: &crate::model::norm::Norm) {
    hash_tensor(h, &n.w);
    if let Some(b) = &n.layer_norm_bias {
        hash_tensor(h, b);
    }
}
