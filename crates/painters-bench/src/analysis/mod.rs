//! Layer analysis over the T+1 residual states of a model: the embedding output, then every block's
//! output (before the final norm), captured with the core's [`Observer`](painters::exec::Observer).
//!
//! * similarity matrices in three modes ([`SimilarityMode`]), the paper's Figure 3 among them;
//! * angular distance between states ℓ and ℓ+n of the last token (Gromov et al., "The Unreasonable
//!   Ineffectiveness of the Deeper Layers") and ShortGPT's Block Influence;
//! * the logit lens: every state through the final norm and the LM head.
//!
//! [`analyze_llama`] runs a model over token requests the way lm-eval batches them (sorted by length,
//! right-padded with id 0, no attention mask), which is how the paper's hidden states were saved;
//! [`write_outputs`] writes every number as JSON and CSV.

mod analyze;
mod error;
mod lens;
mod output;
mod similarity;

pub use analyze::{AnalysisOptions, LayerAnalysis, analyze_llama, residual_states, state_labels};
pub use error::AnalysisError;
pub use lens::{
    LensReading, LensSample, LensSummary, LogitLens, ReadOut, TopToken, read_positions,
};
pub use output::{write_csv_matrix, write_outputs};
pub use similarity::{
    AngularRow, Matrix, SampleGrams, Similarity, SimilarityAccumulator, SimilarityMode,
    angular_distance, angular_distances, block_influence, cosine_matrix, sample_grams,
    sample_grams_host,
};
