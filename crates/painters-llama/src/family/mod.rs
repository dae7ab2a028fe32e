//! Model families: each is a small description over the one generic decoder.
//!
//! A description says which structural features a family switches on ([`Architecture`]), what each
//! layer keeps wherever a schedule places it ([`LayerSpec`]: attention window, RoPE table), and where
//! its checkpoints keep each weight (the `names` module). Dispatch is on HF `model_type` or GGUF
//! `general.architecture`.
//!
//! | family | HF `model_type` | what it switches on |
//! |---|---|---|
//! | Llama | `llama` | RMSNorm, SwiGLU, RoPE (default / linear / llama3); optional biases |
//! | Mistral | `mistral` | Llama + sliding-window attention on every layer |
//! | Qwen2 | `qwen2` | Llama + q/k/v biases; sliding layers from `layer_types` |
//! | Qwen3 | `qwen3` | Llama + per-head q/k RMSNorm, explicit `head_dim` |
//! | Gemma 2 | `gemma2` | `(1 + w)` norms, sandwich norms, GeGLU, scaled embeddings, softcaps, alternating sliding layers |
//! | Gemma 3 | `gemma3_text` | Gemma 2 without softcaps + q/k norms, local/global RoPE bases per layer |
//! | Phi-3 | `phi3` | fused `qkv_proj` / `gate_up_proj`, partial rotary |
//! | GPT-NeoX | `gpt_neox` | LayerNorm with biases, parallel residual, per-head fused QKV, GELU MLP, partial rotary |

mod common;
mod from_hf;
mod gemma;
mod gpt_neox;
mod kind;
mod llama;
pub(crate) mod names;
mod phi3;
mod qwen;

pub use kind::Family;
