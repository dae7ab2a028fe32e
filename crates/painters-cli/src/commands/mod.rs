//! One module per `painters` command: its arguments, the one library entry point it calls, and how
//! that entry point's errors read (cause and hint). Argument groups several commands share are in
//! [`crate::args`]; long help texts in `help/*.txt`.

pub mod bench;
pub mod conformance;
pub mod eval;
pub mod export;
pub mod glue;
pub mod heal;
pub mod layers;
pub mod merge;
pub mod report;
pub mod schedule;
pub mod search;
pub mod serve;
pub mod sweep;
pub mod tokenize;
