//! What kind of device a burn `Device` is: the one place painters asks.

use burn::tensor::Device;

/// Whether `device` computes on the calling thread (burn's CPU backends, also under autodiff), where
/// splitting work across rayon's threads helps and tensor data can be read in place; GPU backends
/// queue work asynchronously and gain nothing from it.
pub fn runs_on_host(device: &Device) -> bool {
    // burn 0.22 has no public "is this a CPU backend" query; its Debug form names the backend
    // (`Device<Flex(Cpu)>`). The test below checks that a flex device is recognised.
    let name = format!("{device:?}");
    name.contains("Flex(") || name.contains("NdArray(")
}

#[cfg(test)]
mod tests {
    #[test]
    fn flex_runs_on_host() {
        assert!(super::runs_on_host(&burn::tensor::Device::flex()));
    }
}
