//! The languages a conversation may be transcribed in (`autotranscribeParams.language`)
//! and the engine each needs: English goes to the replica's or the tenant's engine,
//! anything else to Whisper base, the one multilingual model callscribe carries.

use crate::config::EngineModel;

/// A language callscribe transcribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// The code of the API (as Amazon Transcribe names it), e.g. `es-US`.
    pub code: &'static str,
    /// Whisper's language code, e.g. `es`.
    pub whisper: &'static str,
}

impl Language {
    pub fn is_english(self) -> bool {
        self.whisper == "en"
    }
}

const fn language(code: &'static str, whisper: &'static str) -> Language {
    Language { code, whisper }
}

/// English in its Amazon Transcribe variants, and Spanish: the languages tested on real
/// speech (Whisper base knows some 90 more; add one here with a test on its speech).
pub const SUPPORTED: &[Language] = &[
    language("en-US", "en"),
    language("en-GB", "en"),
    language("en-AU", "en"),
    language("en-IN", "en"),
    language("en-IE", "en"),
    language("en-NZ", "en"),
    language("en-ZA", "en"),
    language("en-CA", "en"),
    language("es-US", "es"),
    language("es-ES", "es"),
];

pub const ENGLISH: Language = SUPPORTED[0];

/// The supported language with this code (exact, as the API documents them).
pub fn lookup(code: &str) -> Option<Language> {
    SUPPORTED.iter().copied().find(|l| l.code == code)
}

/// The supported codes, for error messages: "en-US, en-GB, …".
pub fn supported_codes() -> String {
    SUPPORTED
        .iter()
        .map(|l| l.code)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which engine decodes a conversation, and in what language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `None`: the replica's default engine (`engine.model`).
    pub model: Option<EngineModel>,
    /// Whisper's code for the conversation's language.
    pub language: &'static str,
}

impl Route {
    /// English goes to the tenant's engine if it chose one, else the default; every
    /// other language to Whisper base whatever the tenant chose (the other engines know
    /// only English).
    pub fn choose(language: Language, tenant_choice: Option<EngineModel>) -> Route {
        Route {
            model: if language.is_english() {
                tenant_choice
            } else {
                Some(EngineModel::WhisperBase)
            },
            language: language.whisper,
        }
    }

    /// English on the default engine.
    pub const DEFAULT: Route = Route {
        model: None,
        language: "en",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_goes_to_whisper_base_whatever_the_tenant_chose() {
        let spanish = lookup("es-US").unwrap();
        for choice in [None, Some(EngineModel::WhisperTinyEn)] {
            let route = Route::choose(spanish, choice);
            assert_eq!(route.model, Some(EngineModel::WhisperBase));
            assert_eq!(route.language, "es");
        }
        let english = lookup("en-GB").unwrap();
        assert_eq!(Route::choose(english, None), Route::DEFAULT);
        assert_eq!(
            Route::choose(english, Some(EngineModel::WhisperTinyEn)).model,
            Some(EngineModel::WhisperTinyEn)
        );
    }

    #[test]
    fn codes_are_exact() {
        assert!(lookup("es-us").is_none() && lookup("fr-FR").is_none());
        assert!(supported_codes().starts_with("en-US, en-GB"));
        assert!(supported_codes().contains("es-US"));
    }
}
