//! Chat templates: the model's own Jinja template (a GGUF's `tokenizer.chat_template`, an HF
//! folder's `chat_template.jinja` or `tokenizer_config.json` key) rendered with `minijinja`, with
//! Python's string methods as HF's templates use them.

use std::path::Path;

use minijinja::{Environment, ErrorKind, context};
use painters_llama::GgufSource;
use serde::Serialize;

/// One chat message as the template sees it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A compiled chat template and the special-token strings it may name.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; `bos`/`eos` are the strings of the model's special tokens (`""` when it
    /// has none).
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| e.to_string())?;
        Ok(ChatTemplate {
            env,
            bos: bos.into(),
            eos: eos.into(),
        })
    }

    /// The prompt for `messages`, ending where the assistant's answer starts
    /// (`add_generation_prompt`), as HF's `apply_chat_template` renders it.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        let t = self.env.get_template(NAME).map_err(|e| e.to_string())?;
        t.render(context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.to_string(),
        })
    }
}

/// The chat template source stored with the model at `path`, if any: a GGUF's
/// `tokenizer.chat_template`; in an HF folder, `chat_template.jinja`, else `tokenizer_config.json`'s
/// `chat_template` (a string, or the entry named `default` of a list).
pub fn template_source(path: &Path) -> Result<Option<String>, String> {
    if path.is_file() {
        let g = GgufSource::open(path).map_err(|e| e.to_string())?;
        return Ok(g
            .file()
            .get_str("tokenizer.chat_template")
            .ok()
            .map(str::to_string));
    }
    let jinja = path.join("chat_template.jinja");
    if jinja.is_file() {
        return std::fs::read_to_string(&jinja)
            .map(Some)
            .map_err(|e| format!("{}: {e}", jinja.display()));
    }
    let cfg = path.join("tokenizer_config.json");
    if !cfg.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    Ok(match v.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(list: &[(&str, &str)]) -> Vec<Message> {
        list.iter()
            .map(|(r, c)| Message {
                role: r.to_string(),
                content: c.to_string(),
            })
            .collect()
    }

    /// SmolLM2-Instruct's template (from its GGUF) and the prompt transformers'
    /// `apply_chat_template(..., add_generation_prompt=True, tokenize=False)` gives for it.
    #[test]
    fn renders_chatml_as_transformers_does() {
        let src = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let t = ChatTemplate::new(src, "<|im_start|>", "<|im_end|>").unwrap();
        let got = t.render(&msgs(&[("user", "Hi")])).unwrap();
        assert_eq!(
            got,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_and_raise_exception() {
        let src = "{{ bos_token }}{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('roles must be user or assistant') }}{% endif %}{{ m.content.strip() }}|{% endfor %}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(t.render(&msgs(&[("user", "  a  ")])).unwrap(), "<s>a|");
        let e = t.render(&msgs(&[("system", "x")])).unwrap_err();
        assert!(e.contains("roles must be user or assistant"), "{e}");
    }

    #[test]
    fn a_broken_template_is_an_error_at_start() {
        assert!(ChatTemplate::new("{% for m in messages %}", "", "").is_err());
    }
}
