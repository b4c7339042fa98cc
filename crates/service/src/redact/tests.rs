//! The redaction rules on written and spoken sentences.

use super::*;

#[test]
fn unredacted_text_is_given_when_asked_even_with_no_entity() {
    let applied = Redaction::from_settings(Output::RedactedAndUnredacted, &[], "en")
        .apply("my pin is 1234", &Context::default());
    assert_eq!(applied.text, "my pin is 1234");
    assert_eq!(applied.unredacted_text.as_deref(), Some("my pin is 1234"));
    let plain = Redaction::from_settings(Output::Unredacted, &["PIN".into()], "en")
        .apply("pin 1234", &Context::default());
    assert_eq!(
        (plain.text.as_str(), plain.unredacted_text),
        ("pin 1234", None)
    );
}

fn redact(text: &str) -> String {
    Redactor::new(Entity::ALL)
        .redact(text, &Context::default())
        .0
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
    let (text, found) = r.redact(
        "1111 1111.",
        &Context {
            previous: Some("my number is 4111 1111"),
            ..Context::default()
        },
    );
    assert_eq!(text, "#### ####.");
    assert_eq!(found[0].entity, Entity::CreditCardNumber);
    let (text, _) = r.redact(
        "4321",
        &Context {
            previous: Some("and my PIN is"),
            ..Context::default()
        },
    );
    assert_eq!(text, "####");
}

#[test]
fn output_modes_decide_which_text_is_kept() {
    let said = "my pin is 1234";
    let defaults = tenant_defaults(None);
    let both = Redaction::from_settings(Output::RedactedAndUnredacted, &defaults, "en")
        .apply(said, &Context::default());
    assert_eq!(both.text, "my pin is ####");
    assert_eq!(both.unredacted_text.as_deref(), Some(said));
    let redacted = Redaction::from_settings(Output::Redacted, &defaults, "en")
        .apply(said, &Context::default());
    assert_eq!(
        (redacted.text.as_str(), redacted.unredacted_text),
        ("my pin is ####", None)
    );
    let plain = Redaction::from_settings(Output::Unredacted, &defaults, "en")
        .apply(said, &Context::default());
    assert_eq!((plain.text.as_str(), plain.unredacted_text), (said, None));
    let chosen = ["EMAIL".to_owned()];
    let email_only =
        Redaction::from_settings(Output::Redacted, &chosen, "en").apply(said, &Context::default());
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
        let (out, found) = r.redact(text, &Context::default());
        assert_eq!(out, text, "{found:?}");
    }
}

#[test]
fn disabled_entities_are_left_alone() {
    let r = Redactor::new([Entity::Pin]);
    let (text, _) = r.redact(
        "my card is 4111 1111 1111 1111 and my pin is 1234",
        &Context::default(),
    );
    assert_eq!(text, "my card is 4111 1111 1111 1111 and my pin is ####");
}

fn spanish(entities: &[&str]) -> Redaction {
    let names: Vec<String> = entities.iter().map(|e| (*e).to_owned()).collect();
    Redaction::from_settings(Output::Redacted, &names, "es")
}

#[test]
fn spanish_cue_words_and_number_words() {
    let r = spanish(&["CREDIT_CARD_NUMBER", "CVV", "PIN", "SSN"]);
    for (said, masked) in [
        (
            "Mi tarjeta es 4111 1111 1111 1111.",
            "Mi tarjeta es #### #### #### ####.",
        ),
        (
            "el número de la tarjeta es cuatro uno uno uno, uno uno uno uno, uno uno uno uno, uno uno uno uno",
            "el número de la tarjeta es ####, ####, ####, ####",
        ),
        (
            "el código de seguridad es trescientos veinte",
            "el código de seguridad es ###",
        ),
        (
            "quiero cambiar mi NIP a 4321",
            "quiero cambiar mi NIP a ####",
        ),
        (
            "mi seguro social es ciento veintitrés, cuarenta y cinco, sesenta y siete ochenta y nueve",
            "mi seguro social es ###, ##, ####",
        ),
    ] {
        assert_eq!(r.apply(said, &Context::default()).text, masked, "{said}");
    }
}

#[test]
fn spanish_look_alikes_stay() {
    let r = spanish(&["CREDIT_CARD_NUMBER", "CVV", "PIN", "SSN"]);
    for said in [
        "Tengo dos hijos y una hija.",
        "Llamé a las 10 de la mañana.",
        "mi número de pedido es 552188",
        "son treinta y dos dólares con cincuenta",
        "el código postal de la tarjeta es 90210",
        "nací el 25 de marzo de 1985",
    ] {
        assert_eq!(r.apply(said, &Context::default()).text, said);
    }
}

/// Issue 22: cue phrasings outside the old rule set, before and after the number.
#[test]
fn cue_phrasings_in_many_words() {
    for (said, masked) in [
        (
            "my card is 4111 1111 1111 1111 and the code on the back is 429",
            "my card is #### #### #### #### and the code on the back is ###",
        ),
        (
            "it's four two nine, the three numbers on the back",
            "it's ###, the three numbers on the back",
        ),
        ("the CID is 4821", "the CID is ####"),
        (
            "card verification value one two three",
            "card verification value ###",
        ),
        ("my passcode is 9931", "my passcode is ####"),
        (
            "the access code is seven seven one four",
            "the access code is ####",
        ),
        (
            "the last four of my social are 6789",
            "the last four of my social are ####",
        ),
        ("use the card ending in 4242", "use the card ending in ####"),
        ("1234, that's my pin", "####, that's my pin"),
        (
            "my ssn is 574 73 9463 and the passcode on the account is 3895",
            "my ssn is ### ## #### and the passcode on the account is ####",
        ),
    ] {
        assert_eq!(redact(said), masked, "{said}");
    }
}

/// Issue 22: every way a number is said is one run of digits, masked whole.
#[test]
fn number_forms_are_read_alike() {
    for said in [
        "my pin is 4 0 1 2",
        "my pin is four oh one two",
        "my pin is forty one twelve",
        "my pin is forty-one twelve",
        "my pin is double five seven seven",
        "my pin is triple seven one",
        "my pin is 4 oh 1 two",
        "my pin is four, zero, one, two",
    ] {
        let out = redact(said);
        assert!(
            out.starts_with("my pin is ") && !out[10..].chars().any(|c| c.is_alphanumeric()),
            "{said} → {out}"
        );
    }
    assert_eq!(redact("my pin is four oh uh one two"), "my pin is ## uh ##");
    assert_eq!(
        redact("the card is 4,111 1111 1111 1111"),
        "the card is #,### #### #### ####"
    );
}

/// Issue 22: one policy, the whole entity; the tenant may keep a card's last four.
#[test]
fn the_whole_entity_is_masked_unless_the_last_four_are_kept() {
    assert_eq!(
        redact("card 4939 9091 6998 5439"),
        "card #### #### #### ####"
    );
    let keeping = Redactor::new(Entity::DEFAULTS).keeping_card_last_four(true);
    let context = Context::default();
    assert_eq!(
        keeping.redact("card 4939 9091 6998 5439", &context).0,
        "card #### #### #### 5439"
    );
    assert_eq!(
        keeping
            .redact(
                "four nine three nine, nine oh nine one, six nine nine eight, five four three nine",
                &context
            )
            .0,
        "####, ####, ####, five four three nine"
    );
    assert_eq!(
        keeping.redact("the card ending in 5439", &context).0,
        "the card ending in 5439",
        "the last four alone are what is kept"
    );
}

/// The customer's `answer`, redacted (default entities) after the agent asked `question`.
fn answer_to(question: &str, answer: &str) -> String {
    let mut said = ConversationContext::default();
    said.heard("agent", question, Some(1_000));
    Redactor::new(Entity::DEFAULTS)
        .redact(answer, &said.before("customer", Some(3_000)))
        .0
}

/// Issue 22: the other participant's question is context; nothing waits for it.
#[test]
fn the_agents_question_says_what_the_answer_is() {
    let r = Redactor::new(Entity::DEFAULTS);
    assert_eq!(
        answer_to("and what's the code on the back?", "it's four two nine"),
        "it's ###"
    );
    assert_eq!(
        answer_to("can I have the last four of your social", "sure, 6789"),
        "sure, ####"
    );
    assert_eq!(answer_to("what's your pin?", "uh, 5521"), "uh, ####");
    assert_eq!(
        answer_to("what's your order number?", "it's 5521 8834"),
        "it's 5521 8834"
    );
    assert_eq!(
        answer_to("what's the billing zip code for the card?", "91635"),
        "91635"
    );
    // Said later in stream time: not context for this answer.
    let mut said = ConversationContext::default();
    said.heard("agent", "what's the code on the back?", Some(9_000));
    assert_eq!(
        r.redact("it's four two nine", &said.before("customer", Some(3_000)))
            .0,
        "it's four two nine"
    );
}

/// Issue 22: a number split across two messages of one speaker is redacted in both.
#[test]
fn a_number_split_across_messages_is_redacted_in_both() {
    let r = Redactor::new(Entity::DEFAULTS);
    let first = "my card number is 4111 1111.";
    assert!(r.ends_open(first, &Context::default()));
    assert!(!r.ends_open("my card number is 4111 1111 1111 1111", &Context::default()));
    assert!(!r.ends_open("I have 2 kids", &Context::default()));
    let held = Context {
        next: Some("1111 1111"),
        ..Context::default()
    };
    assert_eq!(r.redact(first, &held).0, "my card number is #### ####.");
    let rest = Context {
        previous: Some(first),
        ..Context::default()
    };
    let (text, found) = r.redact("one one one one, one one one one", &rest);
    assert_eq!(text, "####, ####");
    assert_eq!(found[0].entity, Entity::CreditCardNumber);
    // Flushed alone (no continuation came): the started number is still masked.
    assert_eq!(
        r.redact("okay the card it's four eight six oh", &Context::default())
            .0,
        "okay the card it's ####"
    );
}

#[test]
fn look_alikes_with_cue_words_stay() {
    for said in [
        "the card arrived on November twenty six",
        "I reset my pin on September 25, 2017",
        "I got the text with the security code at ten twenty six",
        "I started getting social security in 1986.",
        "my social security check was 1200 dollars",
        "the code on the coupon is 2468",
        "the card has a 5000 dollar limit",
        "I was charged $49.99 on my card",
        "my order number is 4111 1111",
    ] {
        assert_eq!(redact(said), said);
    }
    let phone_off = Redactor::new(Entity::DEFAULTS);
    let said = "call me at 555 867 5309, my pin is 4321";
    assert_eq!(
        phone_off.redact(said, &Context::default()).0,
        "call me at 555 867 5309, my pin is ####"
    );
}

/// A pause inside a number ("let me see", "hold on") does not cut it in two, in one
/// message or across two.
#[test]
fn a_pause_in_the_middle_of_a_number_keeps_it_whole() {
    assert_eq!(
        redact("the card is 4318 6459 8365, let me see, 9120"),
        "the card is #### #### ####, let me see, ####"
    );
    let r = Redactor::new(Entity::DEFAULTS);
    let first = "my card number is 5500 0055, hold on, the light is bad in here";
    assert!(r.ends_open(first, &Context::default()));
    let rest = Context {
        previous: Some(first),
        ..Context::default()
    };
    assert_eq!(
        r.redact("yeah 5555 5559 that's it", &rest).0,
        "yeah #### #### that's it"
    );
    // Twelve digits said and then a pause: the last four come in the next message.
    let twelve = "it's on my debit card 4000 1234 5678, um, hold on";
    assert!(r.ends_open(twelve, &Context::default()));
    let rest = Context {
        previous: Some(twelve),
        ..Context::default()
    };
    assert_eq!(r.redact("okay 9010", &rest).0, "okay ####");
}

/// A cue word in a phrase that names something else: the phrase decides.
#[test]
fn the_phrase_a_cue_word_belongs_to_decides() {
    for said in [
        "the tracking number for my replacement card is 8812 3390",
        "the member number on my insurance card is 554433",
        "the billing address on the card is 4410",
        "the phone I bought is a GT-5521 and I want a new pin",
        "there were 3 attempts with the wrong pin",
    ] {
        assert_eq!(redact(said), said);
    }
    assert_eq!(
        redact("the security PIN on my phone account is 7202"),
        "the security PIN on my phone account is ####"
    );
    assert_eq!(
        answer_to(
            "and the social security number on the account?",
            "154 24 7667"
        ),
        "### ## ####"
    );
    assert_eq!(
        answer_to(
            "I need the SSN of the primary account holder",
            "that's me, 473117913"
        ),
        "that's me, #########"
    );
    assert_eq!(
        answer_to(
            "the last four of your social and then I can pull up the account",
            "okay 0608"
        ),
        "okay ####"
    );
}

/// "one" as a pronoun and "oh" are not digits glued to the answer that follows.
#[test]
fn which_one_is_not_a_digit() {
    let r = Redactor::new(Entity::DEFAULTS);
    let mut said = ConversationContext::default();
    said.heard("agent", "I'll need the security code as well", Some(1_000));
    said.heard("customer", "which one", Some(2_000));
    said.heard("agent", "the three digits by the signature", Some(3_000));
    assert_eq!(
        r.redact("eight three three", &said.before("customer", Some(5_000)))
            .0,
        "###"
    );
    assert_eq!(redact("the new one is 4411"), "the new one is 4411");
}

#[test]
fn spanish_phrasings_of_the_field() {
    let r = spanish(&["CREDIT_CARD_NUMBER", "CVV", "PIN", "SSN"]);
    for (said, masked) in [
        (
            "la contraseña del cajero es 887192",
            "la contraseña del cajero es ######",
        ),
        ("el security code es 179", "el security code es ###"),
        (
            "pague con la tarjeta con terminación 2735",
            "pague con la tarjeta con terminación ####",
        ),
        (
            "mi número secreto es cuatro cuatro dos uno",
            "mi número secreto es ####",
        ),
    ] {
        assert_eq!(r.apply(said, &Context::default()).text, masked, "{said}");
    }
    for said in [
        "la tasa de interés de la tarjeta es diecisiete por ciento",
        "veo tres intentos fallidos con el código",
        "me rechazaron la tarjeta antes del vuelo 2210",
    ] {
        assert_eq!(r.apply(said, &Context::default()).text, said);
    }
}
