//! Reading tensors back to the host.

use burn::tensor::Tensor;

use crate::error::BertError;

/// A tensor's values as host f32, whatever float dtype the backend computed in.
pub fn to_host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, BertError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| BertError::Readback(format!("{e:?}")))
}
