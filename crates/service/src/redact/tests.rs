//! The redaction rules on written and spoken sentences.

use super::*;

#[test]
fn unredacted_text_is_given_when_asked_even_with_no_entity() {
    let applied = Redaction::from_settings(Output::RedactedAndUnredacted, &[], "en")
        .apply("my pin is 1234", None);
    assert_eq!(applied.text, "my pin is 1234");
    assert_eq!(applied.unredacted_text.as_deref(), Some("my pin is 1234"));
    let plain =
        Redaction::from_settings(Output::Unredacted, &["PIN".into()], "en").apply("pin 1234", None);
    assert_eq!(
        (plain.text.as_str(), plain.unredacted_text),
        ("pin 1234", None)
    );
}

fn redact(text: &str) -> String {
    Redactor::new(Entity::ALL).redact(text, None).0
}

#[test]
fn card_numbers_written_and_spoken() {
    assert_eq!(
        redact("my card is 4111 1111 1111 1111"),
        "my card is #### #### #### ####"
    );
    assert_eq!(
        redact("4111-1111-1111-1111 please"),
        "####-####-####-#### please"
    );
    assert_eq!(
        redact("it's four one one one one one one one one one one one one one one one"),
        "it's ################"
    );
    // 16 digits failing Luhn and no card context: left alone.
    assert_eq!(
        redact("order 1234 5678 9012 3456"),
        "order 1234 5678 9012 3456"
    );
}

/// Issue 22's first class: a number directly followed by punctuation was left whole.
#[test]
fn a_number_ending_in_sentence_punctuation_is_masked_whole() {
    assert_eq!(
        redact("my credit card number is 2720-5931-0341-3166?"),
        "my credit card number is ####-####-####-####?"
    );
    assert_eq!(
        redact("Can I change my PIN to 9696?"),
        "Can I change my PIN to ####?"
    );
    assert_eq!(
        redact("my card is 4111 1111 1111 1111!"),
        "my card is #### #### #### ####!"
    );
}

#[test]
fn short_numbers_need_context() {
    assert_eq!(redact("my PIN number is 4321"), "my PIN number is ####");
    assert_eq!(redact("it's 0584 for the pin"), "it's #### for the pin");
    assert_eq!(
        redact("the security code is seven three one"),
        "the security code is ###"
    );
    assert_eq!(
        redact("the total is 4321 dollars"),
        "the total is 4321 dollars"
    );
    assert_eq!(
        redact("my social is 123 45 6789"),
        "my social is ### ## ####"
    );
    assert_eq!(redact("123-45-6789"), "###-##-####");
    assert_eq!(
        redact("call me at five five five one two one two"),
        "call me at #######"
    );
}

#[test]
fn passwords_emails_dates_profanity() {
    assert_eq!(
        redact("my password is blue monkey. thanks"),
        "my password is #### ######. thanks"
    );
    assert_eq!(
        redact("send it to john.smith@gmail.com."),
        "send it to ####.###########.###."
    );
    assert_eq!(
        redact("it's john dot smith at gmail dot com ok"),
        "it's #### ### ##### ## ##### ### ### ok"
    );
    assert_eq!(
        redact("I was born on March 3rd, 1985 in Ohio"),
        "I was born on ##### ###, #### in Ohio"
    );
    assert_eq!(redact("this is bullshit"), "this is ########");
}

#[test]
fn a_number_split_across_utterances_is_judged_whole() {
    let r = Redactor::new(Entity::DEFAULTS);
    let (text, found) = r.redact("1111 1111.", Some("my number is 4111 1111"));
    assert_eq!(text, "#### ####.");
    assert_eq!(found[0].entity, Entity::CreditCardNumber);
    let (text, _) = r.redact("4321", Some("and my PIN is"));
    assert_eq!(text, "####");
}

#[test]
fn output_modes_decide_which_text_is_kept() {
    let said = "my pin is 1234";
    let defaults = tenant_defaults(None);
    let both =
        Redaction::from_settings(Output::RedactedAndUnredacted, &defaults, "en").apply(said, None);
    assert_eq!(both.text, "my pin is ####");
    assert_eq!(both.unredacted_text.as_deref(), Some(said));
    let redacted = Redaction::from_settings(Output::Redacted, &defaults, "en").apply(said, None);
    assert_eq!(
        (redacted.text.as_str(), redacted.unredacted_text),
        ("my pin is ####", None)
    );
    let plain = Redaction::from_settings(Output::Unredacted, &defaults, "en").apply(said, None);
    assert_eq!((plain.text.as_str(), plain.unredacted_text), (said, None));
    let chosen = ["EMAIL".to_owned()];
    let email_only = Redaction::from_settings(Output::Redacted, &chosen, "en").apply(said, None);
    assert_eq!(email_only.text, said, "PIN not chosen");
    assert_eq!(mask_word(" four"), "#");
    assert_eq!(mask_word(" twenty"), "##");
    assert_eq!(mask_word(" 4111,"), " ####,");
}

#[test]
fn look_alikes_stay() {
    let r = Redactor::new(Entity::ALL);
    for text in [
        "that'll be $49.99 a month",
        "it costs forty nine ninety nine",
        "I'll call you back at 3:45",
        "the meeting is on 12/05/2024",
        "I ordered 1200 units last week",
        "we need twelve hundred units",
        "I live at 1234 Main Street",
        "my order number is 5521 8834",
        "the total came to 1,234.56",
        "it happened on March 3rd, 2021",
        "call the store on extension 4455",
        "I paid two hundred and fifty dollars",
        "oh I see, that's fine",
    ] {
        let (out, found) = r.redact(text, None);
        assert_eq!(out, text, "{found:?}");
    }
}

#[test]
fn disabled_entities_are_left_alone() {
    let r = Redactor::new([Entity::Pin]);
    let (text, _) = r.redact("my card is 4111 1111 1111 1111 and my pin is 1234", None);
    assert_eq!(text, "my card is 4111 1111 1111 1111 and my pin is ####");
}

fn spanish(entities: &[&str]) -> Redaction {
    let names: Vec<String> = entities.iter().map(|e| (*e).to_owned()).collect();
    Redaction::from_settings(Output::Redacted, &names, "es")
}

#[test]
fn spanish_masks_every_run_of_three_or_more_digits_or_number_words() {
    let r = spanish(&["PIN"]);
    for (said, masked) in [
        (
            "Mi tarjeta es 4111 1111 1111 1111.",
            "Mi tarjeta es #### #### #### ####.",
        ),
        (
            "el número es cuatro uno uno uno gracias",
            "el número es #### gracias",
        ),
        ("son treinta y dos cuarenta y cinco", "son ######"),
        ("Mi código es 123, ¿vale?", "Mi código es ###, ¿vale?"),
    ] {
        assert_eq!(r.apply(said, None).text, masked, "{said}");
    }
}

#[test]
fn spanish_leaves_short_numbers_and_non_number_entities() {
    let r = spanish(&["PIN"]);
    for said in [
        "Tengo dos hijos y una hija.",
        "Llamé a las 10 de la mañana.",
        "Y entonces me dijo que sí.",
    ] {
        assert_eq!(r.apply(said, None).text, said);
    }
    // Only e-mail chosen: numbers stay.
    let email_only = spanish(&["EMAIL"]);
    assert_eq!(
        email_only.apply("mi número es 4111 1111", None).text,
        "mi número es 4111 1111"
    );
}
