//! CPU feature detection and the one place a kernel level is chosen.
//!
//! The machines this runs on differ (Zen 3 with AVX2 only, Zen 4 with AVX-512), so nothing is
//! compiled for one CPU: kernels for each [`Level`] are built with `#[target_feature]` and the
//! level is picked at run time from `is_x86_feature_detected!`. `PAINTERS_KERNELS=scalar|avx2|
//! avx512` forces a level (for tests and A/B measurements); [`crate::MatmulOptions::level`] does
//! the same per call.

use std::fmt;
use std::sync::OnceLock;

use crate::KernelError;

/// A family of kernels, from the portable one up. Each level needs every feature of the levels
/// below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain Rust, any CPU. The reference the others are tested against.
    Scalar,
    /// x86-64 with AVX2, FMA and F16C (Haswell, Zen 1 and later).
    Avx2,
    /// AVX2 plus AVX-512 F, BW, VL and VNNI (Ice Lake, Zen 4 and later).
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Scalar, Level::Avx2, Level::Avx512];

    /// Lower-case name, as `PAINTERS_KERNELS` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The level named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The best level this CPU supports.
    pub fn best() -> Level {
        cpu_features().best_level()
    }

    /// Whether this CPU can run kernels of this level.
    pub fn is_supported(self) -> bool {
        self <= Level::best()
    }

    /// The levels this CPU supports, lowest first (what tests iterate over).
    pub fn supported() -> Vec<Level> {
        Level::ALL
            .into_iter()
            .filter(|l| l.is_supported())
            .collect()
    }

    /// `Ok(self)` when the CPU supports it, else an error naming the best level it does.
    pub fn check(self) -> Result<Level, KernelError> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(KernelError::LevelUnavailable {
                level: self,
                best: Level::best(),
            })
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPU features the kernels care about, as detected at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub fma: bool,
    pub f16c: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512vnni: bool,
    pub avx512bf16: bool,
}

impl CpuFeatures {
    /// The best [`Level`] these features allow.
    pub fn best_level(&self) -> Level {
        if !(self.avx2 && self.fma && self.f16c) {
            Level::Scalar
        } else if self.avx512f && self.avx512bw && self.avx512vl && self.avx512vnni {
            Level::Avx512
        } else {
            Level::Avx2
        }
    }

    /// The present features as names, e.g. `["avx2", "fma", …]` (for `painters bench`).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.f16c, "f16c"),
            (self.avx512f, "avx512f"),
            (self.avx512bw, "avx512bw"),
            (self.avx512vl, "avx512vl"),
            (self.avx512vnni, "avx512vnni"),
            (self.avx512bf16, "avx512bf16"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

impl fmt::Display for CpuFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(" "))
        }
    }
}

/// The features of this CPU (detected once).
pub fn cpu_features() -> CpuFeatures {
    static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> CpuFeatures {
    CpuFeatures {
        avx2: is_x86_feature_detected!("avx2"),
        fma: is_x86_feature_detected!("fma"),
        f16c: is_x86_feature_detected!("f16c"),
        avx512f: is_x86_feature_detected!("avx512f"),
        avx512bw: is_x86_feature_detected!("avx512bw"),
        avx512vl: is_x86_feature_detected!("avx512vl"),
        avx512vnni: is_x86_feature_detected!("avx512vnni"),
        avx512bf16: is_x86_feature_detected!("avx512bf16"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

/// The level used when a call does not name one: `PAINTERS_KERNELS` if set (an error if it
/// names no level or one this CPU lacks), else [`Level::best`]. Read once per process.
pub fn default_level() -> Result<Level, KernelError> {
    static DEFAULT: OnceLock<Result<Level, KernelError>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| match std::env::var("PAINTERS_KERNELS") {
            Ok(v) if !v.trim().is_empty() => Level::from_name(&v)
                .ok_or(KernelError::BadLevelName { value: v })
                .and_then(Level::check),
            _ => Ok(Level::best()),
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_named() {
        assert!(Level::Scalar < Level::Avx2 && Level::Avx2 < Level::Avx512);
        for l in Level::ALL {
            assert_eq!(Level::from_name(&l.name().to_uppercase()), Some(l));
        }
        assert_eq!(Level::from_name("sse"), None);
        assert!(Level::Scalar.is_supported());
        assert_eq!(Level::supported().first(), Some(&Level::Scalar));
    }

    #[test]
    fn best_level_follows_features() {
        let mut f = CpuFeatures::default();
        assert_eq!(f.best_level(), Level::Scalar);
        f.avx2 = true;
        f.fma = true;
        assert_eq!(f.best_level(), Level::Scalar, "F16C is needed too");
        f.f16c = true;
        assert_eq!(f.best_level(), Level::Avx2);
        f.avx512f = true;
        f.avx512bw = true;
        f.avx512vl = true;
        assert_eq!(f.best_level(), Level::Avx2, "VNNI is needed too");
        f.avx512vnni = true;
        assert_eq!(f.best_level(), Level::Avx512);
        assert_eq!(
            f.to_string(),
            "avx2 fma f16c avx512f avx512bw avx512vl avx512vnni"
        );
    }
}
