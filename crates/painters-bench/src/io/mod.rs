//! The harness's bottom layer: files written whole or not at all ([`write_atomic`]), the early
//! check that an output can be written ([`check_writable`]), and the per-document journal that makes
//! long evaluations resumable ([`DocJournal`]). Nothing here knows about models or tasks.

pub mod atomic;
pub mod journal;

pub use atomic::{IoError, check_folder_writable, check_writable, write_atomic};
pub use journal::{DocJournal, JournalError};
