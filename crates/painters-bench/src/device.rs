//! Choosing the compute device at run time. Which backends exist is decided by cargo features
//! (`flex` by default, `wgpu`, `cuda`); the device is always constructed explicitly, because
//! `Device::default()` silently prefers a GPU backend when its feature is on anywhere in the build.

use burn::tensor::Device;

/// The devices this build can use, for help texts.
pub fn available() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "flex") {
        v.push("cpu");
    }
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// A device by name: `cpu` (burn's flex backend), `wgpu`, `cuda` or `cuda:N`.
pub fn by_name(name: &str) -> Result<Device, String> {
    let missing = |feature: &str| {
        format!(
            "device `{name}` needs the `{feature}` cargo feature; this build has: {}",
            available().join(", ")
        )
    };
    match name {
        "cpu" | "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[cfg(not(feature = "flex"))]
            return Err(missing("flex"));
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
            #[cfg(not(feature = "wgpu"))]
            return Err(missing("wgpu"));
        }
        n if n == "cuda" || n.starts_with("cuda:") => {
            #[cfg(feature = "cuda")]
            {
                let index: usize = n
                    .strip_prefix("cuda:")
                    .unwrap_or("0")
                    .parse()
                    .map_err(|_| format!("`{n}`: write cuda or cuda:N with a device number"))?;
                return Ok(Device::cuda(index));
            }
            #[cfg(not(feature = "cuda"))]
            return Err(missing("cuda"));
        }
        other => Err(format!(
            "unknown device `{other}`; this build has: {}",
            available().join(", ")
        )),
    }
}
