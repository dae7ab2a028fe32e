//! Values of a run's settings that mean nothing (a limit of 0 documents, a batch of 0 rows, a
//! learning rate of NaN), refused before any work with an error that names the flag and the value
//! as the user wrote them. Every run checks its own settings with these first.

/// A setting's value that means nothing; refused before any work.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{flag} {value}: {why}")]
pub struct SettingError {
    /// The flag as the command line spells it (`--limit`).
    pub flag: &'static str,
    /// The value as given.
    pub value: String,
    /// Why it is refused.
    pub why: String,
}

impl SettingError {
    pub fn new(flag: &'static str, value: impl ToString, why: impl Into<String>) -> Self {
        SettingError {
            flag,
            value: value.to_string(),
            why: why.into(),
        }
    }
}

/// `value` must be at least 1; `counts` says what it counts (for the message).
pub fn at_least_one(flag: &'static str, value: usize, counts: &str) -> Result<(), SettingError> {
    if value == 0 {
        return Err(SettingError::new(
            flag,
            value,
            format!("must be at least 1 (it counts {counts})"),
        ));
    }
    Ok(())
}

/// An optional count: when given, at least 1.
pub fn at_least_one_if_given(
    flag: &'static str,
    value: Option<usize>,
    counts: &str,
) -> Result<(), SettingError> {
    value.map_or(Ok(()), |v| at_least_one(flag, v, counts))
}

/// `value` must be a positive, finite number.
pub fn positive_finite(flag: &'static str, value: f64) -> Result<(), SettingError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(SettingError::new(
            flag,
            value,
            "must be a positive, finite number",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_flag_and_the_value() {
        assert_eq!(
            at_least_one("--limit", 0, "documents")
                .unwrap_err()
                .to_string(),
            "--limit 0: must be at least 1 (it counts documents)"
        );
        assert!(at_least_one("--limit", 1, "documents").is_ok());
        assert!(at_least_one_if_given("--limit", None, "documents").is_ok());
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            assert!(positive_finite("--lr", bad).is_err(), "{bad}");
        }
        assert_eq!(
            positive_finite("--lr", f64::NAN).unwrap_err().to_string(),
            "--lr NaN: must be a positive, finite number"
        );
        assert_eq!(
            positive_finite("--lr", -1.0).unwrap_err().to_string(),
            "--lr -1: must be a positive, finite number"
        );
        assert!(positive_finite("--lr", 2e-5).is_ok());
    }
}
