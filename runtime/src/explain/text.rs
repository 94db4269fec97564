//! Occlusion of words: each word the model reads, replaced by the unknown token.

use super::{Scorer, Target};
use crate::error::{Error, Result};
use crate::preprocess::Preprocessing;
use crate::session::{Input, Session};

/// What [`explain_text`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextExplanation {
    /// The class explained.
    pub label: usize,
    /// The class the model predicts for the whole text.
    pub predicted: usize,
    /// The explained class's probability for the whole text.
    pub score: f32,
    /// Words explained: those the model reads (at most its sequence length), in text order.
    pub words: usize,
    /// Words in the text; more than `words` when the text was truncated.
    pub total_words: usize,
}

/// Explains the model of `session` (a text model) on `text`: `importance[i]` becomes the drop of
/// the label's probability when word `i` (as [`crate::preprocess::text::Tokenizer::each_word`]
/// yields them) reads as unknown. `ids` is scratch of the model's sequence length; `importance`
/// needs room for every word the model reads (its sequence length is always enough). One run per
/// word, plus one.
pub fn explain_text(
    session: &mut Session<'_, '_, '_>,
    text: &str,
    target: Target,
    ids: &mut [i32],
    importance: &mut [f32],
) -> Result<TextExplanation> {
    let Preprocessing::Text(tok) = session.model().preprocessing() else {
        return Err(Error::BadExplain(rule!("the model has no tokenizer")));
    };
    let enc = tok.encode(text, ids)?;
    let words = enc.kept;
    if importance.len() < words {
        return Err(Error::BufferSize { needed: words as u64, given: importance.len() as u64 });
    }
    let scorer = Scorer::of(session);
    let (predicted, base, label) = scorer.score(session, Input::I32(ids), target)?;
    for (i, imp) in importance.iter_mut().take(words).enumerate() {
        tok.encode_masking(text, Some(i), ids)?;
        let (_, s, _) = scorer.score(session, Input::I32(ids), Target::Label(label))?;
        *imp = base - s;
    }
    Ok(TextExplanation { label, predicted, score: base, words, total_words: enc.words })
}
