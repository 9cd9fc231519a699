//! Text detectors for the compliance guard: whether a caller asks if they
//! are talking to a machine ([`asks_if_machine`]), whether an LLM reply
//! claims to be human ([`claims_human`]), and which opt-out phrase a caller
//! said ([`find_phrase`]), in English, Spanish, German, French and Hindi
//! (Devanagari and romanised).
//!
//! ```
//! use switchyard_runtime::policy::phrases::{asks_if_machine, claims_human, find_phrase, normalise};
//!
//! assert!(asks_if_machine("Wait — am I talking to a robot?"));
//! assert!(asks_if_machine("¿Es usted una máquina?"));
//! assert!(!asks_if_machine("My son wants a robot for Christmas."));
//! assert!(!asks_if_machine("I want to talk to a person"));
//!
//! assert!(claims_human("No, I'm a real person."));
//! assert!(!claims_human("I'm an AI assistant, not a person."));
//!
//! let opt_out = vec!["don't record me".to_string(), "arrêtez l'enregistrement".to_string()];
//! assert_eq!(find_phrase("Please DONT record me!", &opt_out), Some("don't record me"));
//! assert_eq!(find_phrase("arretez l enregistrement", &opt_out), Some("arrêtez l'enregistrement"));
//! assert_eq!(find_phrase("nonstop recording", &opt_out), None);
//!
//! assert_eq!(normalise("Êtes-vous une IA ?"), "etes vous une ia");
//! ```
//!
//! How it works: the text comes from speech-to-text or an LLM, so case,
//! accents and punctuation are unreliable. Everything is first folded by
//! [`normalise`] into lowercase words separated by single spaces. The two
//! detectors then run precompiled regexes (one alternation per question
//! kind, compiled once) over that string padded with a space at both ends,
//! so every pattern marks word edges with plain spaces (`" are you "`) and
//! never needs a Unicode `\b` (which would push the regex engine off its
//! fast DFA on Devanagari). Each pattern is a
//! question or a self-description shape ("am I talking to", "sind Sie",
//! "क्या आप ... हैं") followed by a machine or human noun, so a mere mention
//! of a robot never fires. A few compounds are vetoed by the word after the
//! match ("human resources", "real estate"). One allocation per call: the
//! normalised string.

use std::sync::LazyLock;

use regex::Regex;

/// Whether the caller sincerely asks if they are talking to a
/// machine/AI/robot/real person.
///
/// It looks for the question shapes ("am I talking to a robot", "are you
/// human", "is this an AI", "bist du eine KI", "kya aap robot ho", and
/// accusations such as "you're a bot, right"), not for the nouns alone: "my
/// son wants a robot" and "I want to talk to a person" are false.
pub fn asks_if_machine(text: &str) -> bool {
    let s = padded(text);
    scan(&ASKS, &s) != Hit::None
}

/// Whether an (LLM) reply claims to be human or denies being an
/// AI/robot/machine.
///
/// A self-description as a person ("I'm a real person", "ich bin ein
/// Mensch", "मैं इंसान हूँ") is a claim. A denial of being a machine ("I'm
/// not a robot", "je ne suis pas une IA") is a claim unless the same reply
/// also says what it is ("I'm not a robot, I'm a virtual assistant"). An
/// honest "I'm an AI, not a person" is not a claim. "No" directly before a
/// self-description is ambiguous once punctuation is gone ("No, soy una
/// persona" against "No soy una persona"), and so is "like" right after it
/// ("I'm human-like"): such a self-description is read like a denial, a
/// claim only when the reply does not admit to being an AI.
pub fn claims_human(text: &str) -> bool {
    let s = padded(text);
    match scan(&CLAIMS, &s) {
        Hit::Plain => return true,
        Hit::Ambiguous => {}
        Hit::None => {
            if scan(&DENIES, &s) == Hit::None {
                return false;
            }
        }
    }
    // An admission right after "no" ("no soy una IA") is a denial, not an admission.
    scan(&ADMITS, &s) != Hit::Plain
}

/// The first of `phrases` (in the order given) that occurs in `text` as
/// whole words after normalisation (opt-out phrases like "stop recording",
/// "don't record me"; the template supplies them per locale). Returns the
/// phrase as given.
///
/// Both sides are normalised, so case, accents, apostrophe styles ("don't",
/// "dont", "don’t") and punctuation do not matter; "stop recording" matches
/// "STOP RECORDING!" but neither "stop recordings" nor "nonstop recording".
/// A phrase that normalises to nothing never matches.
pub fn find_phrase<'a>(text: &str, phrases: &'a [String]) -> Option<&'a str> {
    if phrases.is_empty() {
        return None;
    }
    let hay = normalise(text);
    phrases
        .iter()
        .map(String::as_str)
        .find(|phrase| contains_words(&hay, phrase))
}

/// The normalisation used by all three (public for tests and for the
/// guard): lowercase; Latin accents folded (é→e, ñ→n, ü→u, ß→ss, œ→oe, also
/// when written as combining marks); Devanagari variants folded (nukta
/// dropped, chandrabindu→anusvara, ॉ→ा) with its letters and vowel signs
/// kept; English contractions joined ("don't"→"dont", "I'm"→"im") while
/// other apostrophes separate ("l'enregistrement"→"l enregistrement");
/// every other non-letter, non-digit becomes a space; whitespace collapsed
/// and trimmed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalise_with(text, |piece| {
        piece.push_to(&mut out);
        true
    });
    out.make_ascii_lowercase();
    out
}

/// The normalised text with one space at each end, so patterns can mark
/// word edges with spaces.
fn padded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    normalise_with(text, |piece| {
        piece.push_to(&mut out);
        true
    });
    out.push(' ');
    out.make_ascii_lowercase();
    out
}

/// Whether the normalised `phrase` occurs in the normalised `hay` at word
/// boundaries. The phrase is normalised afresh at each candidate word start
/// and compared as it goes, so nothing is allocated; its first byte filters
/// the candidates.
fn contains_words(hay: &str, phrase: &str) -> bool {
    let mut first = None;
    normalise_with(phrase, |piece| {
        first = Some(match piece {
            Piece::Run(run) => run.as_bytes()[0].to_ascii_lowercase(),
            Piece::Char(c) => c.encode_utf8(&mut [0; 4]).as_bytes()[0],
            Piece::Space => b' ',
        });
        false
    });
    let Some(first) = first else {
        return false;
    };
    let bytes = hay.as_bytes();
    // A plain byte loop: cheaper than a memchr call per space on short text.
    (0..bytes.len())
        .filter(|&at| bytes[at] == first && (at == 0 || bytes[at - 1] == b' '))
        .any(|at| {
            let rest = &bytes[at..];
            let (mut pos, mut buf) = (0, [0; 4]);
            let whole = normalise_with(phrase, |piece| {
                let want: &[u8] = match &piece {
                    Piece::Run(run) => run.as_bytes(),
                    Piece::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
                    Piece::Space => b" ",
                };
                // Runs are not lowercased yet; everything else is.
                let same = rest
                    .get(pos..pos + want.len())
                    .is_some_and(|got| got.eq_ignore_ascii_case(want));
                pos += want.len();
                same
            });
            whole && matches!(rest.get(pos), None | Some(b' '))
        })
}

/// What one scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    None,
    /// Only ambiguous matches: directly after the word "no" ("no, I'm
    /// human" or "no I'm human"?) or before "like" ("I'm human-like").
    Ambiguous,
    /// A match that stands on its own.
    Plain,
}

/// Words that, right after a match, show the noun was part of a compound
/// ("human resources", "a robot toy"), not about the speaker.
const VETO_NEXT: &[&str] = &[
    "company",
    "companies",
    "startup",
    "app",
    "store",
    "resources",
    "estate",
    "learning",
    "rights",
    "vacuum",
    "toy",
    "toys",
    "shop",
    "wash",
    "washable",
    // "eres una persona muy amable": a compliment, not a question.
    "very",
    "muy",
    "tres",
    "sehr",
    "खिलौना",
];

/// Scans the padded text `s` with `re`, skipping vetoed matches.
///
/// Every pattern starts at a space (or `^`) and ends with a space (or `$`),
/// so the word before a match ends at `m.start()` and the next begins at
/// `m.end()`. The search resumes on the trailing space so adjacent matches
/// can share it.
fn scan(re: &Regex, s: &str) -> Hit {
    let mut found = Hit::None;
    let mut at = 0;
    while let Some(m) = re.find_at(s, at) {
        let next = s[m.end()..].split(' ').next().unwrap_or("");
        if !VETO_NEXT.contains(&next) {
            if s[..m.start()].rsplit(' ').next() != Some("no") && next != "like" {
                return Hit::Plain;
            }
            found = Hit::Ambiguous;
        }
        // Resume on the match's trailing space (every pattern ends with a
        // space, or `$` after the padding space): the next match may start there.
        if m.end() - 1 <= m.start() {
            break;
        }
        at = m.end() - 1;
    }
    found
}

// ---------------------------------------------------------------------------
// Normalisation

/// What one lowercase character becomes.
enum Fold {
    /// Nothing (a combining accent, a nukta, a zero-width joiner).
    Drop,
    /// A word separator.
    Sep,
    One(char),
    Two(char, char),
}

/// Base letters of the precomposed nukta letters U+0958..=U+095F
/// (क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़), whose nukta is dropped like an accent.
const NUKTA_BASE: [char; 8] = ['क', 'ख', 'ग', 'ज', 'ड', 'ढ', 'फ', 'य'];

/// Folds one lowercase character. A small hand table instead of Unicode
/// decomposition: it covers the accents of the supported languages and
/// costs one `match`.
fn fold(c: char) -> Fold {
    use Fold::{Drop, One, Sep, Two};
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => One('a'),
        'æ' => Two('a', 'e'),
        'ç' | 'ć' | 'č' => One('c'),
        'ď' | 'đ' | 'ð' => One('d'),
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => One('e'),
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => One('i'),
        'ł' | 'ľ' => One('l'),
        'ñ' | 'ń' | 'ň' => One('n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => One('o'),
        'œ' => Two('o', 'e'),
        'ŕ' | 'ř' => One('r'),
        'ś' | 'š' | 'ş' | 'ș' => One('s'),
        'ß' => Two('s', 's'),
        'ť' | 'ţ' | 'ț' => One('t'),
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => One('u'),
        'ý' | 'ÿ' => One('y'),
        'ź' | 'ż' | 'ž' => One('z'),
        // Combining accents (decomposed input), zero-width (non-)joiners, nukta.
        '\u{300}'..='\u{36f}' | '\u{200c}' | '\u{200d}' | '\u{93c}' => Drop,
        // Chandrabindu and anusvara are used interchangeably (हूँ / हूं).
        '\u{901}' => One('\u{902}'),
        // Candra O: speech-to-text writes रिकॉर्डिंग and रिकार्डिंग alike.
        '\u{949}' => One('\u{93e}'),
        '\u{911}' => One('\u{906}'),
        '\u{958}'..='\u{95f}' => One(NUKTA_BASE[c as usize - 0x958]),
        // Danda and double danda are full stops; ॰ abbreviates.
        '\u{964}' | '\u{965}' | '\u{970}' => Sep,
        // Indic blocks (Devanagari to Sinhala): keep everything, because
        // viramas and some vowel signs are not `alphanumeric`.
        '\u{900}'..='\u{dff}' => One(c),
        c if c.is_alphanumeric() => One(c),
        _ => Sep,
    }
}

/// Whether `c` stands for itself after normalisation, apart from ASCII case:
/// ASCII letters and digits, and Devanagari (or other Indic) characters
/// that [`fold`] keeps. Indic scripts have no case, so `to_lowercase` (a
/// table search) is skipped for them.
fn verbatim(c: char) -> bool {
    // The exclusions are the Indic characters `fold` changes (checked by a test).
    c.is_ascii_alphanumeric()
        || (('\u{900}'..='\u{dff}').contains(&c)
            && !matches!(
                c,
                '\u{901}' | '\u{911}' | '\u{93c}' | '\u{949}' | '\u{958}'..='\u{965}' | '\u{970}'
            ))
}

/// The byte length of the run of [`verbatim`] characters that starts `text`.
fn verbatim_run(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut run = 0;
    loop {
        run += bytes[run..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        match text[run..].chars().next() {
            Some(c) if !c.is_ascii() && verbatim(c) => run += c.len_utf8(),
            _ => return run,
        }
    }
}

/// Whether `c` is an apostrophe (straight, curly, modifier letter, backtick).
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '`' | '’' | '‘' | 'ʼ' | '´' | '′')
}

/// Whether the letters after an apostrophe make an English contraction
/// ("n't", "'m", "'s", "'re", "'ve", "'ll", "'d"), which joins the word
/// ("dont", "im") as speech-to-text usually writes it. Any other apostrophe
/// is a French or Italian elision ("l'enregistrement", "c'est") and
/// separates.
fn contraction_follows(rest: &str) -> bool {
    let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (suffix, tail) = rest.split_at(n);
    !tail.chars().next().is_some_and(char::is_alphanumeric)
        && ["t", "s", "m", "d", "re", "ve", "ll"]
            .iter()
            .any(|c| suffix.eq_ignore_ascii_case(c))
}

/// A piece of normalised text, handed to the sink of [`normalise_with`].
enum Piece<'a> {
    /// A run of [`verbatim`] characters, ASCII still to be lowercased (so it
    /// can be copied in one go, and lowercased in one go at the end).
    Run(&'a str),
    /// One folded non-ASCII character.
    Char(char),
    /// The single space between two words.
    Space,
}

impl Piece<'_> {
    fn push_to(&self, out: &mut String) {
        match self {
            Piece::Run(run) => out.push_str(run),
            Piece::Char(c) => out.push(*c),
            Piece::Space => out.push(' '),
        }
    }
}

/// Normalises `text` into `sink`, piece by piece, until the sink returns
/// false; returns whether it ran to the end. One core for [`normalise`]
/// (which collects) and [`find_phrase`] (which compares in place).
fn normalise_with<'a>(text: &'a str, mut sink: impl FnMut(Piece<'a>) -> bool) -> bool {
    // `gap`: a separator was seen since the last word character;
    // `started`: a word character was emitted (so no leading space).
    let (mut gap, mut started) = (false, false);
    let mut rest = text;
    while !rest.is_empty() {
        // Fast path: copy runs of ASCII letters and digits and of Devanagari
        // that needs no folding in one piece.
        let run = verbatim_run(rest);
        if run > 0 {
            if !word(&mut sink, &mut gap, &mut started, Piece::Run(&rest[..run])) {
                return false;
            }
            rest = &rest[run..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        rest = &rest[c.len_utf8()..];
        if is_apostrophe(c) {
            gap |= !started || !contraction_follows(rest);
        } else if c.is_ascii() {
            gap = true;
        } else {
            for lc in c.to_lowercase() {
                let ok = match fold(lc) {
                    Fold::Drop => true,
                    Fold::Sep => {
                        gap = true;
                        true
                    }
                    Fold::One(a) => word(&mut sink, &mut gap, &mut started, Piece::Char(a)),
                    Fold::Two(a, b) => {
                        word(&mut sink, &mut gap, &mut started, Piece::Char(a))
                            && word(&mut sink, &mut gap, &mut started, Piece::Char(b))
                    }
                };
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

/// Emits a word piece, preceded by the space that a pending separator
/// stands for (never before the first word, so the result is trimmed).
fn word<'a>(
    sink: &mut impl FnMut(Piece<'a>) -> bool,
    gap: &mut bool,
    started: &mut bool,
    piece: Piece<'a>,
) -> bool {
    let space = *gap && *started;
    *gap = false;
    *started = true;
    (!space || sink(Piece::Space)) && sink(piece)
}

// ---------------------------------------------------------------------------
// Patterns
//
// Written against the padded normalised text: lowercase, no accents, words
// separated by single spaces, a space at both ends. Each pattern starts with
// a space or `^` and ends with a space or `$` (see `scan`). `{NAME}` stands
// for a word list in VARS, expanded in order, so a list may use lists
// defined after it.

const VARS: &[(&str, &str)] = &[
    // English. Nouns that need an article after "is this" ("is this machine
    // broken" is not a question about the call).
    (
        "{N_EN}",
        "(?:(?:a |an |some |one )?{ADJ_EN}*(?:{MACH_EN}|{HUMAN_EN})|{REC_EN})",
    ),
    (
        "{NA_EN}",
        "(?:(?:a |an |some )(?:{ADJ_EN})*(?:{MACH_EN}|{HUMAN_EN})|{REC_EN}|{BARE_EN})",
    ),
    (
        "{NM_EN}",
        "(?:(?:a |an |just a |just an |some )(?:{ADJ_EN})*{MACH_EN}|{REC_EN}|ai|a i|artificial intelligence)",
    ),
    (
        "{BARE_EN}",
        "(?:{ADJ_EN}*(?:ai|a i|artificial intelligence|automated|human being|human|prerecorded|pre recorded)|(?:real|live|actual) (?:person|human|agent))",
    ),
    ("{ADJ_EN}", "(?:real |actual |live |living |genuine )"),
    (
        "{MACH_EN}",
        "(?:robots?|robo|robocall|bots?|chatbots?|chat bots?|machines?|computers?|ai|a i|artificial intelligence|automated|automatic|answering machine|program|virtual|voice assistant|digital assistant|language model|robotic voice)",
    ),
    (
        "{HUMAN_EN}",
        "(?:human beings?|humans?|person|(?:someone|somebody) real|(?:real|live|actual|human) (?:agents?|representatives?|reps?|operators?|people))",
    ),
    (
        "{REC_EN}",
        "(?:a recording|a recorded \\S+|a pre ?recorded \\S+|prerecorded|pre recorded)",
    ),
    (
        "{ADV_EN}",
        "(?:really |actually |even |just |still |like |definitely |certainly |totally |absolutely |indeed |also |only |very much |100 |percent )",
    ),
    ("{IAM}", "(?:i am|im|i m)"),
    ("{YOUARE}", "(?:you re|youre|you are)"),
    // Spanish.
    (
        "{MACH_ES}",
        "(?:robot|bot|chatbot|maquina|computadora|ordenador|ia|i a|inteligencia artificial|grabacion|contestadora|contestador automatico|contestador|sistema automatico|sistema automatizado|programa|asistente virtual|asistente de ia|asistente automatico)",
    ),
    (
        "{ADV_ES}",
        "(?:realmente |de verdad |solo |simplemente |tambien |efectivamente )",
    ),
    (
        "{HUMAN_ES}",
        "(?:persona real|persona de verdad|persona|ser humano|humano|humana)",
    ),
    // German.
    ("{ART_DE}", "(?:ein |eine |einem |einer |einen )"),
    (
        "{ADJ_DE}",
        "(?:echte[nmrs]? |richtige[nmrs]? |reale[nmrs]? |wirkliche[nmrs]? |lebendige[nmrs]? )",
    ),
    (
        "{MACH_DE}",
        "(?:roboter|bot|chatbot|maschine|computer|ki|k i|ku(?:e)?nstliche[nr]? intelligenz|automat|automaten|aufnahme|bandansage|tonband|sprachcomputer|anrufbeantworter|programm|sprachassistent(?:en)?|computerstimme)",
    ),
    ("{HUMAN_DE}", "(?:mensch|menschen|person)"),
    (
        "{ADV_DE}",
        "(?:wirklich |tatsachlich |tatsaechlich |ganz |echt |definitiv |naturlich |natuerlich |schon |doch |auch |nur |hier |gerade |jetzt |eigentlich |etwa |uberhaupt |ueberhaupt )",
    ),
    // French.
    ("{ADJ_FR}", "(?:vrai |vraie |veritable |reel |reelle )"),
    (
        "{MACH_FR}",
        "(?:robot|bot|chatbot|machine|ordinateur|ia|i a|intelligence artificielle|repondeur automatique|repondeur|enregistrement|message enregistre|programme|automate|systeme automatique|serveur vocal|assistant virtuel|voix de synthese)",
    ),
    (
        "{HUMAN_FR}",
        "(?:etre humain|humain|humaine|personne reelle|personne physique|personne)",
    ),
    (
        "{ADV_FR}",
        "(?:bien |vraiment |reellement |juste |simplement |aussi |en fait )",
    ),
    // Hindi, Devanagari (folded: anusvara for chandrabindu, ा for ॉ, no nukta).
    (
        "{MACH_HI}",
        "(?:रोबोट|रोबाट|बाट|बोट|चैटबाट|चैटबोट|मशीन|कंप्यूटर|कम्प्यूटर|एआई|ए आई|ai|a i|आर्टिफिशियल इंटेलिजेंस|कृत्रिम बुद्धि|कृत्रिम बुद्धिमत्ता|रिकार्डिंग|रेकार्डिंग)",
    ),
    (
        "{HUMAN_HI}",
        "(?:इंसान|इन्सान|मनुष्य|मानव|व्यक्ति|आदमी|human|person)",
    ),
    (
        "{ADJ_HI}",
        "(?:असली |सच्चा |सच्चे |सच्ची |सचमुच |सच में |वाकई |रियल |जीता जागता |जीवित )",
    ),
    ("{HOON_HI}", "(?:हूं|हू|हुं)"),
    ("{I_HI}", "(?:मैं|में|मै)"),
    // Hindi, romanised.
    (
        "{MACH_HR}",
        "(?:robot|robo|bot|chatbot|machine|mashin|computer|ai|a i|recording)",
    ),
    (
        "{HUMAN_HR}",
        "(?:insaan|insan|inshaan|manushya|manav|aadmi|admi|vyakti|human|person)",
    ),
    (
        "{ADJ_HR}",
        "(?:asli |asal |sach me |sach mein |sachme |sachmuch |real |sacha |sachcha |sache |sachche )",
    ),
    ("{KYA}", "(?:kya|kyaa|kia)"),
    ("{I_HR}", "(?:main|mai|mein|me|mei)"),
    ("{HOON_HR}", "(?:hoon|hun|hu|hoo)"),
];

/// Questions (and accusations) about what the caller is talking to.
static ASKS: LazyLock<Regex> = LazyLock::new(|| {
    compile(&[
        // en: "am I talking to a robot", "am I speaking to a real person"
        " am i {ADV_EN}*(?:talking|speaking|chatting|connected|dealing) (?:to|with) {N_EN} ",
        // en: "are you a real person", "are you human", "are you a bot"
        " (?:are you|are u|r u|r you) (?:guys |all |people )?{ADV_EN}*{N_EN} ",
        " (?:are you|are u) {ADV_EN}*real (?:$|or )",
        // en: "is this AI", "is this an AI", "is this a recording or a person"
        " is (?:this|that) (?:call |line |voice |thing |number )?{ADV_EN}*{NA_EN} ",
        // en statements with a tag: "you're a bot, right", "so this is a robot", "I'm talking to a machine?"
        " (?:{YOUARE}|your) {ADV_EN}*{NM_EN} (?:$|right |arent you |or |huh |correct |yeah |yes |no |aren t you )",
        " this is {NM_EN} (?:$|right |isnt it |or |huh )",
        " is it {NM_EN} (?:$|or )",
        // en: "can you tell me if you're a person", "I wonder whether this is a machine"
        " (?:if|whether) (?:{YOUARE}|this is|{IAM} (?:talking|speaking) (?:to|with)) {ADV_EN}*{N_EN} ",
        " {IAM} (?:talking|speaking|chatting) (?:to|with) {NM_EN} (?:$|right |arent i |or |now |huh |again )",
        // es: "estoy hablando con un robot", "eres una persona real", "es usted una máquina"
        " (?:estoy|estamos) (?:yo )?hablando con (?:un |una |alguien )?(?:{MACH_ES}|{HUMAN_ES}|real) ",
        "^(?: \\S+)? hablo con (?:un |una )?(?:{MACH_ES}|{HUMAN_ES}) ",
        " (?:eres|es usted|usted es|eres tu|tu eres) (?:realmente |de verdad |acaso )?(?:un |una )?(?:{MACH_ES}|{HUMAN_ES}|real) ",
        // es: "es una inteligencia artificial" (only as the first or second word: "es" is also "is")
        "^(?: \\S+)? (?:es|esto es|este es|es esto|es este) (?:un |una )?(?:{MACH_ES}|persona real|persona de verdad|ser humano|humano) ",
        // de: "spreche ich mit einem Roboter", "sind Sie ein echter Mensch", "bist du eine KI", "ist das ein Bot"
        " (?:spreche|rede|telefoniere|chatte) ich {ADV_DE}*mit {ART_DE}?{ADJ_DE}?(?:{MACH_DE}|{HUMAN_DE}) ",
        " (?:sind sie|bist du) {ADV_DE}*{ART_DE}?{ADJ_DE}?(?:{MACH_DE}|{HUMAN_DE}) ",
        " (?:sind sie|bist du) {ADV_DE}*(?:echt|real) (?:$|oder )",
        " (?:ist das|ist dies) {ADV_DE}*(?:{ART_DE}{ADJ_DE}?(?:{MACH_DE}|{HUMAN_DE})|ki|k i|ku(?:e)?nstliche intelligenz) ",
        " (?:sie sind|du bist|das ist) (?:doch |nur |bloss )?{ART_DE}?{MACH_DE} (?:$|oder |nicht wahr |stimmts |richtig |gell |ne )",
        " bin ich {ADV_DE}*(?:mit|bei) {ART_DE}?{ADJ_DE}?(?:{MACH_DE}|{HUMAN_DE}) (?:verbunden|gelandet|am telefon|dran) ",
        // fr: "est-ce que je parle à un robot" (at the start, or after "est-ce que")
        "(?:^(?: \\S+)?| est ce que| est ce qu) (?:je parle|je suis en train de parler|on parle|je discute|parle je|suis je en train de parler) (?:a|avec) (?:un |une )?{ADJ_FR}?(?:{MACH_FR}|{HUMAN_FR}) ",
        // fr: "êtes-vous une vraie personne", "tu es un humain ?"
        " (?:etes vous|vous etes|es tu|tu es|t es) {ADV_FR}*(?:un |une )?{ADJ_FR}?(?:{MACH_FR}|{HUMAN_FR}) ",
        " (?:etes vous|vous etes|es tu|tu es) {ADV_FR}*(?:reel|reelle|vrai|vraie) (?:$|ou )",
        // fr: "c'est une IA ?" (near the start, or with a tag)
        "(?:^(?: \\S+)?| est ce que) c est (?:un |une )?{ADJ_FR}?(?:{MACH_FR}|etre humain|humain|personne reelle|vraie personne) ",
        " c est (?:un |une ){MACH_FR} (?:$|ou |non |hein |pas vrai |n est ce pas )",
        " est ce (?:que c est )?(?:un |une ){ADJ_FR}?(?:{MACH_FR}|{HUMAN_FR}) ",
        // hi: "क्या मैं रोबोट से बात कर रहा हूँ", "क्या आप असली इंसान हैं", "क्या यह एआई है"
        " क्या {I_HI} (?:किसी |एक |कोई )?{ADJ_HI}?(?:{MACH_HI}|{HUMAN_HI}) से (?:बात|बातें) (?:कर|हो) ",
        " क्या (?:आप|तुम|तू|यह|ये|वह|वो|यह काल|ये काल|यह आवाज|ये आवाज) (?:एक |कोई )?{ADJ_HI}?(?:{MACH_HI}|{HUMAN_HI}) (?:है|हैं|हो|हों) ",
        " (?:आप|तुम|यह|ये) (?:एक |कोई )?{ADJ_HI}?(?:{MACH_HI}|{HUMAN_HI}) (?:है|हैं|हो) (?:क्या|ना|न|या) ",
        // hi romanised: "kya main insaan se baat kar raha hoon", "kya aap robot ho"
        " {KYA} (?:{I_HR}|hum|ham) (?:kisi |ek |koi )?{ADJ_HR}?(?:{MACH_HR}|{HUMAN_HR}) (?:se|say|sai) baat (?:kar|ho) ",
        " {KYA} (?:aap|ap|tum|tu|yeh|ye|yah|woh|wo|vo) (?:ek |koi )?{ADJ_HR}?(?:{MACH_HR}|{HUMAN_HR}) (?:ho|hai|hain|hein|he) ",
        " (?:aap|ap|tum|yeh|ye) (?:ek |koi )?{ADJ_HR}?(?:{MACH_HR}|{HUMAN_HR}) (?:ho|hai|hain|he) (?:kya|na|ya) ",
    ])
});

/// Self-descriptions as a human.
static CLAIMS: LazyLock<Regex> = LazyLock::new(|| {
    compile(&[
        // en: "I'm a real person", "I am human", "no, I'm a human being"
        " {IAM} {ADV_EN}*(?:a |an )?(?:(?:real|actual|live|living|genuine|regular|normal|flesh and blood) )*(?:human being|human|person) ",
        " {IAM} {ADV_EN}*real $",
        " {YOUARE} {ADV_EN}*(?:talking|speaking|chatting) (?:to|with) (?:a |an )?(?:(?:real|actual|live|living) )*(?:human being|human|person) ",
        " this is (?:a |an )(?:real|live|actual) (?:person|human) ",
        // "Nope, real person here" (not after "no": "there's no real person here").
        "(?:^| yes| yeah| yep| nope) (?:a )?(?:real|actual|live) (?:person|human) (?:here|speaking) ",
        // es: "soy una persona real"
        " soy {ADV_ES}*(?:un |una )?(?:persona|humano|humana|ser humano|real) ",
        " (?:estas|esta|usted esta) hablando con (?:un |una )?(?:persona|humano|ser humano) ",
        // de: "ich bin ein Mensch"
        " ich bin {ADV_DE}*(?:ein |eine )?{ADJ_DE}?(?:mensch|person|menschlich) ",
        " (?:sie sprechen|du sprichst) {ADV_DE}*mit {ART_DE}?{ADJ_DE}?(?:mensch|menschen|person) ",
        // fr: "je suis un humain", "je suis une vraie personne"
        " je suis {ADV_FR}*(?:un |une )?{ADJ_FR}?(?:etre humain|humain|humaine|personne) ",
        " vous (?:parlez|discutez) {ADV_FR}*(?:a|avec) (?:un |une )?{ADJ_FR}?(?:etre humain|humain|humaine|personne) ",
        // hi: "मैं इंसान हूँ", "main insaan hoon"
        " {I_HI} (?:एक |कोई )?{ADJ_HI}?{HUMAN_HI} {HOON_HI} ",
        " आप (?:किसी |एक )?{ADJ_HI}?{HUMAN_HI} से बात कर रहे ",
        " {I_HR} (?:ek )?{ADJ_HR}?{HUMAN_HR} {HOON_HR} ",
        " (?:aap|ap) (?:kisi |ek )?{ADJ_HR}?{HUMAN_HR} se baat kar rahe ",
    ])
});

/// Denials of being a machine.
static DENIES: LazyLock<Regex> = LazyLock::new(|| {
    compile(&[
        // en: "I am not a robot", "I'm not an AI", "I'm not a bot"
        " {IAM} {ADV_EN}*(?:not|no) {ADV_EN}*(?:a |an |some )?(?:{MACH_EN}|recording|recorded message) ",
        " {YOUARE} not (?:talking|speaking|chatting) (?:to|with) (?:a |an )?(?:{MACH_EN}|recording) ",
        // es: "no soy un robot"
        " no soy (?:un |una |ningun |ninguna )?{MACH_ES} ",
        " (?:no estas|no esta|usted no esta) hablando con (?:un |una )?{MACH_ES} ",
        // de: "ich bin kein Roboter", "ich bin keine KI"
        " ich bin {ADV_DE}*(?:kein |keine |keiner |nicht |nicht ein |nicht eine ){ADJ_DE}?{MACH_DE} ",
        " (?:sie sprechen|du sprichst) nicht mit {ART_DE}?{MACH_DE} ",
        // fr: "je ne suis pas un robot" (speech-to-text often drops "ne")
        " je (?:ne )?suis (?:pas|point|absolument pas|vraiment pas) (?:un |une )?{MACH_FR} ",
        " vous ne (?:parlez|discutez) pas (?:a|avec) (?:un |une )?{MACH_FR} ",
        // hi: "मैं रोबोट नहीं हूँ", "main robot nahi hoon"
        " {I_HI} (?:कोई |एक )?{MACH_HI} नहीं ",
        " {I_HR} (?:koi |ek )?{MACH_HR} (?:nahi|nahin|nai|nhi) ",
    ])
});

/// Admissions of being an AI, which turn a denial ("I'm not a robot") into
/// an honest clarification ("..., I'm a virtual assistant").
static ADMITS: LazyLock<Regex> = LazyLock::new(|| {
    compile(&[
        " {IAM} {ADV_EN}*(?:a |an |the |your )?(?:[a-z0-9]+s |friendly |helpful |smart |simple )?(?:{MACH_EN}|llm|large language model) ",
        " as an? (?:ai|a i|artificial intelligence|automated|virtual|language model) ",
        // "I'm not a robot but an AI model", "..., sondern eine KI"
        " but (?:{IAM} )?(?:a |an |just a |just an )?{MACH_EN} ",
        " sino (?:un |una )?{MACH_ES} ",
        " sondern {ART_DE}?{MACH_DE} ",
        " mais (?:je suis )?(?:un |une )?{MACH_FR} ",
        " {YOUARE} (?:talking|speaking|chatting) (?:to|with) (?:a |an )?{MACH_EN} ",
        " soy (?:un |una |tu |su )?(?:{MACH_ES}|asistente (?:de ia|virtual|automatico|digital|de inteligencia artificial)) ",
        " como (?:ia|inteligencia artificial|asistente virtual) ",
        " ich bin {ADV_DE}*(?:{ART_DE}|ihr |ihre )?(?:virtuelle[rn]? |digitale[rn]? |automatische[rn]? )?(?:{MACH_DE}|assistent|assistentin) ",
        " je suis {ADV_FR}*(?:un |une |votre |l )?(?:{MACH_FR}|assistant (?:virtuel|ia|i a|numerique|automatique|vocal)|assistante (?:virtuelle|ia|numerique|vocale)|agent (?:virtuel|ia|conversationnel)) ",
        " en tant qu (?:ia|intelligence artificielle|assistant virtuel) ",
        // hi: "मैं एक एआई सहायक हूँ"; the extra word is a noun list, so "नहीं" is not taken for one.
        // "मैं रोबोट नहीं, (बल्कि) एक एआई सहायक हूँ" too.
        " (?:{I_HI}|नहीं|बल्कि) (?:{I_HI} )?(?:एक |कोई )?{MACH_HI}(?: सहायक| असिस्टेंट| एजेंट| प्रोग्राम| माडल)? {HOON_HI} ",
        " (?:{I_HR}|nahi|nahin|balki) (?:{I_HR} )?(?:ek |koi )?{MACH_HR}(?: assistant| sahayak| agent| program| model)? {HOON_HR} ",
    ])
});

/// Joins `patterns` into one alternation and expands the `{NAME}` lists.
fn compile(patterns: &[&str]) -> Regex {
    let mut source = format!("(?:{})", patterns.join("|"));
    for (name, list) in VARS {
        source = source.replace(name, list);
    }
    // A list may use lists defined after it in VARS, not before.
    let unexpanded = source
        .match_indices('{')
        .any(|(i, _)| source[i + 1..].starts_with(|c: char| c.is_ascii_uppercase()));
    assert!(!unexpanded, "unexpanded word list in {source}");
    Regex::new(&source).expect("the phrase patterns compile")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, f: fn(&str) -> bool, cases: &[(&str, bool)]) {
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(text, want)| f(text) != *want)
            .map(|(text, want)| {
                format!(
                    "{name}({text:?}) should be {want} (normalised {:?})",
                    normalise(text)
                )
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn asks_if_machine_true() {
        let cases: Vec<(&str, bool)> = [
            // en
            "am I talking to a robot",
            "Am I speaking to a real person?",
            "are you a real person",
            "are you human",
            "is this AI",
            "is this an AI",
            "is this a machine",
            "are you a bot",
            "wait, is this a recording or a person",
            "are you a computer",
            "hello? am i actually talking with a live person",
            "Are you REAL?",
            "are you an actual human or not",
            "is this an automated system",
            "Is this a real person?",
            "you're a bot, right?",
            "so you are just a machine",
            "I'm talking to a robot?",
            "so this is a recording",
            "are you artificial intelligence",
            "is this call automated",
            "am i talking to a human being",
            "are you a person or a machine",
            "is this a bot i m talking to",
            "hello is this a real person or a robot",
            "are you a live agent",
            "am I speaking with an automated system",
            "are you guys robots",
            "Are you an AI or a human?",
            "is this a human",
            "Is this an actual person?",
            "are you a chat bot",
            "is that a bot talking",
            "is this a computer generated voice",
            "are you even real",
            "Is this thing a robot?",
            "Are you a human being?",
            "Can you tell me if you're a person?",
            "Is this artificial intelligence?",
            "I'm talking to a computer, aren't I?",
            "is it a robot",
            "is this a robotic voice",
            "Hey, are you AI?",
            "are you real people",
            // es
            "¿estoy hablando con un robot?",
            "eres una persona real",
            "¿es usted una máquina?",
            "es una inteligencia artificial",
            "oye, ¿eres un bot?",
            "¿Estoy hablando con una persona de verdad?",
            "¿ES UNA MAQUINA?",
            "usted es un robot",
            "¿Eres humano?",
            "¿Hablo con una persona?",
            "¿Es usted una persona real?",
            "es un robot verdad",
            // de
            "spreche ich mit einem Roboter",
            "sind Sie ein echter Mensch",
            "bist du eine KI",
            "ist das ein Bot",
            "Spreche ich hier gerade mit einer Maschine?",
            "ist das eine Bandansage?",
            "Sie sind doch ein Computer, oder?",
            "bin ich mit einem echten Menschen verbunden",
            "Sind Sie überhaupt ein Mensch?",
            "ist das KI",
            "Bist du ein Mensch?",
            "Sind Sie eine Maschine?",
            "Ist das hier eine KI?",
            "Rede ich mit einem Computer?",
            "Ist das ein echter Mensch?",
            "Das ist ein Roboter, oder?",
            // fr
            "est-ce que je parle à un robot",
            "êtes-vous une vraie personne",
            "c'est une IA ?",
            "tu es un humain ?",
            "Je parle avec une machine là ?",
            "vous êtes un robot ou quoi",
            "est-ce un enregistrement",
            "allô, c'est un répondeur ?",
            "Vous êtes humain ?",
            "Est-ce que vous êtes un robot ?",
            "Je parle à une vraie personne ?",
            "Suis-je en train de parler à une machine ?",
            "C'est un robot ou une personne ?",
            // hi
            "क्या मैं रोबोट से बात कर रहा हूँ",
            "क्या आप असली इंसान हैं",
            "क्या यह एआई है",
            "kya aap robot ho",
            "kya main insaan se baat kar raha hoon",
            "क्या मैं किसी असली इंसान से बात कर रही हूं?",
            "आप रोबोट हो क्या",
            "क्या यह AI है",
            "kya ye AI hai",
            "aap robot ho kya",
            "kya main kisi machine se baat kar raha hu",
            "क्या तुम रोबोट हो",
            "क्या आप इंसान हैं",
            "क्या ये मशीन है",
            "क्या मैं एक मशीन से बात कर रहा हूं",
            "आप इंसान हो या रोबोट",
            "kya tum insaan ho",
            "kya ye recording hai",
            "aap insaan ho ya robot",
            "kya aap asli insaan hain",
        ]
        .into_iter()
        .map(|t| (t, true))
        .collect();
        check("asks_if_machine", asks_if_machine, &cases);
    }

    #[test]
    fn asks_if_machine_false() {
        let cases: Vec<(&str, bool)> = [
            // en
            "I saw a robot movie yesterday",
            "my son wants a robot for Christmas",
            "I am a real person",
            "the machine ate my card",
            "is this the billing department",
            "are you open on Sunday",
            "real estate question",
            "I want to talk to a person",
            "can I speak to a real person please",
            "let me talk to a human",
            "are you recording this call",
            "is this call recorded",
            "are you human resources",
            "are you a real estate agent",
            "is this machine broken",
            "is this a robot vacuum store",
            "I need a person to help me",
            "my computer is broken",
            "",
            "?!",
            "are you the person in charge",
            "you are a lifesaver",
            "robot",
            "Who am I speaking with?",
            "is this real",
            "I hate talking to machines",
            "are you able to help me",
            "is this an AI company",
            "are you the robot from earlier",
            "there is no real person here",
            "is that a real person's signature",
            // es
            "quiero comprar un robot",
            "quiero hablar con una persona",
            "mi hijo es un robot en la obra de teatro",
            "la máquina no funciona",
            "mi robot es muy bonito",
            "eres una persona muy amable",
            // de
            "mein Roboter ist kaputt",
            "ich möchte mit einem Menschen sprechen",
            "ist das die Buchhaltung",
            "die Maschine hat meine Karte gefressen",
            // fr
            "je travaille avec une IA",
            "je voudrais parler à une personne",
            "la machine a avalé ma carte",
            "vous êtes ouverts dimanche",
            "je parle avec mon robot tous les jours",
            "vous êtes une personne très gentille",
            // hi
            "मुझे रोबोट खिलौना चाहिए",
            "मुझे किसी इंसान से बात करनी है",
            "मेरा कंप्यूटर खराब है",
            "mujhe robot chahiye",
            "mujhe insaan se baat karni hai",
        ]
        .into_iter()
        .map(|t| (t, false))
        .collect();
        check("asks_if_machine", asks_if_machine, &cases);
    }

    #[test]
    fn claims_human_true() {
        let cases: Vec<(&str, bool)> = [
            // en
            "I'm a real person",
            "I am human",
            "I am not a robot",
            "I'm not an AI",
            "no, I'm a human being",
            "yes I'm a real person",
            "I'm not a bot",
            "Yes, I’m a real person and happy to help.",
            "I'm definitely a human",
            "im a real live person",
            "Don't worry, you're talking to a real person.",
            "I'm real!",
            "I am not a machine, I promise.",
            "No, I'm a real person.",
            "I'm a human agent here to help.",
            "Yes, I am a real human.",
            "Of course I'm human!",
            "I'm not an automated system.",
            "No, you're speaking with a real person.",
            "I am a person.",
            "No, I'm not a robot.",
            "I'm no robot.",
            "I am 100% human.",
            "Nope, real person here.",
            "I'm a real person, not a bot.",
            "I'm human like you",
            // es
            "soy una persona real",
            "no soy un robot",
            "Sí, soy humano.",
            "No, soy una persona real.",
            "Está hablando con una persona.",
            "Soy un ser humano.",
            "No, no soy un robot, soy una persona.",
            "No soy una máquina.",
            // de
            "ich bin ein Mensch",
            "ich bin kein Roboter",
            "ich bin keine KI",
            "Ich bin wirklich ein echter Mensch.",
            "Sie sprechen mit einem echten Menschen.",
            "Ich bin ein echter Mensch, kein Roboter.",
            "Nein, ich bin kein Bot.",
            // fr
            "je suis un humain",
            "je ne suis pas un robot",
            "je suis une vraie personne",
            "Je suis pas une machine.",
            "vous parlez à une vraie personne",
            "Je suis humaine.",
            "Non, je ne suis pas un robot.",
            // hi
            "मैं इंसान हूँ",
            "मैं रोबोट नहीं हूँ",
            "main insaan hoon",
            "मैं एक असली इंसान हूं।",
            "main robot nahi hoon",
            "मैं कोई मशीन नहीं हूँ",
            "मैं एक इंसान हूं",
            "नहीं, मैं रोबोट नहीं हूं, मैं एक इंसान हूं",
            "main ek insaan hoon",
            "nahi main robot nahi hoon",
        ]
        .into_iter()
        .map(|t| (t, true))
        .collect();
        check("claims_human", claims_human, &cases);
    }

    #[test]
    fn claims_human_false() {
        let cases: Vec<(&str, bool)> = [
            // en
            "I'm an AI assistant",
            "I am an automated assistant, not a person",
            "you're talking to an AI",
            "a real person will call you back",
            "I can transfer you to a human",
            "our staff are real people",
            "I'm an AI, not a person.",
            "No, I'm not a human. I'm a virtual assistant.",
            "I'm not a robot, I'm an AI assistant.",
            "I'm not a person, I'm Acme's AI assistant.",
            "I am not human.",
            "I'm a human resources assistant bot",
            "I'm happy to help",
            "I'm really sorry about that",
            "I am not a person, I am an AI.",
            "As an AI, I'm not a real person.",
            "I'm an artificial intelligence, so I'm not human.",
            "I'm just a virtual assistant, not a human.",
            "I am human-like but I'm an AI.",
            "I'm here to help you, a real agent will join shortly.",
            "I'm not able to do that.",
            "I'm not sure.",
            "Sorry, I'm not a human.",
            "I'm a bot.",
            "I'm not a robot but an AI model.",
            "Sorry, there is no real person here.",
            "Let me get a real person on the line for you.",
            "",
            // es
            "soy un asistente de IA",
            "No soy una persona, soy un asistente virtual.",
            "no soy humano, soy una inteligencia artificial",
            "Una persona real le llamará pronto.",
            // de
            "ich bin ein KI-Assistent",
            "Ich bin kein Mensch, sondern eine KI.",
            "Ich bin kein Roboter im klassischen Sinn, ich bin ein virtueller Assistent.",
            "Ein Mitarbeiter ruft Sie zurück.",
            "Ich bin ein virtueller Assistent, kein Mensch.",
            "Ich bin kein Roboter, sondern eine KI.",
            // fr
            "je suis une IA",
            "je ne suis pas une personne, je suis un assistant virtuel",
            "Je suis désolé.",
            "Je ne suis pas humain, je suis une IA.",
            "Je ne suis pas un robot mais une intelligence artificielle.",
            // hi
            "मैं एक एआई सहायक हूँ",
            "मैं इंसान नहीं हूँ",
            "main ek AI assistant hoon",
            "main insaan nahi hoon",
            "मैं एक मशीन हूं",
            "main ek AI hoon",
            "मैं रोबोट नहीं, एक एआई सहायक हूं",
            "main robot nahi, ek AI assistant hoon",
        ]
        .into_iter()
        .map(|t| (t, false))
        .collect();
        check("claims_human", claims_human, &cases);
    }

    fn phrases(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn find_phrase_cases() {
        let en = phrases(&[
            "stop recording",
            "don't record me",
            "do not record me",
            "turn off the recording",
        ]);
        let de = phrases(&[
            "Aufnahme stoppen",
            "nicht aufnehmen",
            "Aufzeichnung beenden",
        ]);
        let fr = phrases(&[
            "arrêtez l'enregistrement",
            "ne m'enregistrez pas",
            "n'enregistrez pas cet appel",
        ]);
        let es = phrases(&["deje de grabar", "pare la grabación", "no me grabe"]);
        let hi = phrases(&["रिकॉर्डिंग बंद करो", "मुझे रिकॉर्ड मत करो", "recording band karo"]);
        let cases: &[(&str, &[String], Option<&str>)] = &[
            ("please stop recording now", &en, Some("stop recording")),
            ("STOP RECORDING!", &en, Some("stop recording")),
            ("stop recording", &en, Some("stop recording")),
            ("stop, recording", &en, Some("stop recording")),
            ("don't record me", &en, Some("don't record me")),
            ("dont record me", &en, Some("don't record me")),
            ("don’t record me please", &en, Some("don't record me")),
            ("Don`t record me", &en, Some("don't record me")),
            ("please do NOT record me.", &en, Some("do not record me")),
            (
                "can you turn off the recording",
                &en,
                Some("turn off the recording"),
            ),
            ("stop recordings", &en, None),
            ("nonstop recording", &en, None),
            ("stop", &en, None),
            ("recording stop", &en, None),
            ("", &en, None),
            ("don t record me", &en, None),
            ("Aufnahme stoppen bitte", &de, Some("Aufnahme stoppen")),
            ("AUFNAHME STOPPEN", &de, Some("Aufnahme stoppen")),
            ("Bitte nicht aufnehmen!", &de, Some("nicht aufnehmen")),
            ("Aufzeichnung beenden", &de, Some("Aufzeichnung beenden")),
            ("Aufnahmestoppen", &de, None),
            (
                "arrêtez l'enregistrement",
                &fr,
                Some("arrêtez l'enregistrement"),
            ),
            (
                "arretez l enregistrement",
                &fr,
                Some("arrêtez l'enregistrement"),
            ),
            (
                "Arrêtez l’enregistrement s'il vous plaît",
                &fr,
                Some("arrêtez l'enregistrement"),
            ),
            ("ne m enregistrez pas", &fr, Some("ne m'enregistrez pas")),
            (
                "N'ENREGISTREZ PAS CET APPEL",
                &fr,
                Some("n'enregistrez pas cet appel"),
            ),
            ("pare la grabacion", &es, Some("pare la grabación")),
            ("¡Deje de grabar!", &es, Some("deje de grabar")),
            ("no me grabe por favor", &es, Some("no me grabe")),
            ("no me grabes", &es, None),
            ("रिकॉर्डिंग बंद करो", &hi, Some("रिकॉर्डिंग बंद करो")),
            ("कृपया रिकार्डिंग बंद करो।", &hi, Some("रिकॉर्डिंग बंद करो")),
            ("मुझे रिकॉर्ड मत करो", &hi, Some("मुझे रिकॉर्ड मत करो")),
            (
                "please recording band karo",
                &hi,
                Some("recording band karo"),
            ),
            ("रिकॉर्डिंग बंद", &hi, None),
        ];
        for (text, list, want) in cases {
            assert_eq!(
                find_phrase(text, list),
                *want,
                "find_phrase({text:?}, {list:?})"
            );
        }
        // The first phrase in list order wins, whatever its position in the text.
        let both = phrases(&["do not record me", "stop recording"]);
        assert_eq!(
            find_phrase("stop recording, do not record me", &both),
            Some("do not record me")
        );
        // Phrases that normalise to nothing never match.
        let empty = phrases(&["", "?!", " "]);
        assert_eq!(find_phrase("anything at all", &empty), None);
        assert_eq!(find_phrase("", &empty), None);
        assert_eq!(find_phrase("stop recording", &[]), None);
    }

    #[test]
    fn normalise_cases() {
        let cases = [
            ("  Hello,   WORLD!! ", "hello world"),
            ("Êtes-vous une IA ?", "etes vous une ia"),
            ("¿Es usted una máquina?", "es usted una maquina"),
            ("Straße über Ärger", "strasse uber arger"),
            ("Œuvre Æsir ñandú", "oeuvre aesir nandu"),
            ("don't don’t dont DON'T", "dont dont dont dont"),
            (
                "I'm you're we've they'll he'd it's",
                "im youre weve theyll hed its",
            ),
            (
                "l'enregistrement c'est qu'il",
                "l enregistrement c est qu il",
            ),
            ("'quoted' rock 'n' roll", "quoted rock n roll"),
            ("l'été", "l ete"),
            // Decomposed accents: e + U+0301.
            ("cafe\u{301} CAFÉ", "cafe cafe"),
            ("KI-Assistent e-mail", "ki assistent e mail"),
            ("call 555-1234 at 10:30", "call 555 1234 at 10 30"),
            ("क्या आप असली इंसान हैं?", "क्या आप असली इंसान हैं"),
            ("मैं इंसान हूँ।", "मैं इंसान हूं"),
            ("ज़रूर, रिकॉर्डिंग", "जरूर रिकार्डिंग"),
            ("\u{095B}रूर", "जरूर"),
            ("Привет, Мир", "привет мир"),
            ("", ""),
            ("...", ""),
            ("a\u{a0}b\tc\nd", "a b c d"),
            ("emoji 🤖 robot", "emoji robot"),
        ];
        for (text, want) in cases {
            assert_eq!(normalise(text), want, "normalise({text:?})");
        }
    }

    #[test]
    fn verbatim_agrees_with_fold() {
        for c in ('\u{0}'..='\u{dff}').filter(|&c| verbatim(c)) {
            let same =
                matches!(fold(c.to_ascii_lowercase()), Fold::One(f) if f == c.to_ascii_lowercase());
            assert!(
                same,
                "verbatim({c:?} U+{:04X}) but fold changes it",
                c as u32
            );
        }
    }

    #[test]
    fn patterns_compile() {
        LazyLock::force(&ASKS);
        LazyLock::force(&CLAIMS);
        LazyLock::force(&DENIES);
        LazyLock::force(&ADMITS);
    }
}
