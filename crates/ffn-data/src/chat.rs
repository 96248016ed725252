//! Chat templates: the Jinja template a pretrained chat model carries (a GGUF file's
//! `tokenizer.chat_template`), rendered with `minijinja` as `transformers`' `apply_chat_template`
//! renders it (blocks trimmed, `raise_exception` available).

use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use crate::DataError;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message from the user.
    pub fn user(content: &str) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// A chat template, checked when built.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; a syntax error names its line.
    pub fn new(source: &str) -> Result<Self, DataError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| DataError::Tokenizer(format!("the chat template is invalid: {e}")))?;
        Ok(Self { env })
    }

    /// The text of `messages`, followed by the assistant's turn opening when
    /// `add_generation_prompt`. `bos` and `eos` are the special tokens' strings.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos: &str,
        eos: &str,
    ) -> Result<String, DataError> {
        let cannot =
            |e: Error| DataError::Tokenizer(format!("cannot apply the chat template: {e}"));
        self.env
            .get_template(NAME)
            .map_err(cannot)?
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => bos,
                eos_token => eos,
            })
            .map_err(cannot)
    }
}
