//! Sealed card capture: the runtime, not a plugin, collects the card.
//!
//! When a trusted `secure-capture` plugin opens a window, the channel stops
//! handing keys to the call session and feeds them to a [`SecureCollector`]
//! instead. It asks for each field, checks it (Luhn and issuer ranges for
//! the number, a future month for the expiry, three or four digits for the
//! CVV, four for American Express), retries a wrong entry up to
//! [`MAX_TRIES`] times, and hands the finished [`SealedCard`] to a
//! [`PaymentTokenizer`]. The session then receives only `{ok, token, last4,
//! brand}` ([`crate::exec::Input::SecureResult`]). The digits never reach
//! plugin input, flow variables, the event log, transcripts, evidence or a
//! model; [`SealedCard`] has no `Serialize`, its `Debug` shows only brand
//! and last four, and its memory is overwritten when it is dropped.
//!
//! ```
//! use switchyard_runtime::policy::secure_capture::{
//!     CaptureField, CollectStep, LocalVault, PaymentTokenizer, SecureCollector,
//! };
//!
//! // 2026-11-22: a card expiring 12/28 is valid.
//! let now_ms = 1_795_305_600_000;
//! let (mut collector, first_prompt) = SecureCollector::new(&CaptureField::ALL, now_ms, "en-US");
//! assert!(first_prompt.contains("card number"));
//! assert!(matches!(collector.keys("4111111111111111#"), CollectStep::Prompt(p) if p.contains("expiry")));
//! assert!(matches!(collector.keys("1228#"), CollectStep::Prompt(p) if p.contains("security code")));
//! let CollectStep::Done(Ok(card)) = collector.keys("123#") else { panic!() };
//! assert_eq!(format!("{card:?}"), "SealedCard { brand: \"visa\", last4: \"1111\" }");
//! let token = LocalVault::new().tokenize(&card).unwrap();
//! assert_eq!(token.last4, "1111");
//! assert!(!token.token.contains("4111"));
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Datelike, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::redact::{card_brand, card_valid};

/// Wrong entries allowed per field before the capture fails.
pub const MAX_TRIES: u32 = 3;

/// One thing the collector asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureField {
    Number,
    Expiry,
    Cvv,
}

impl CaptureField {
    /// Every field, in the order they are asked.
    pub const ALL: [CaptureField; 3] = [
        CaptureField::Number,
        CaptureField::Expiry,
        CaptureField::Cvv,
    ];

    /// The field named as in a `secure_capture` action (`number`, `expiry`, `cvv`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "number" => Some(CaptureField::Number),
            "expiry" => Some(CaptureField::Expiry),
            "cvv" => Some(CaptureField::Cvv),
            _ => None,
        }
    }

    /// The fields a `secure_capture` action names, in its order; unknown
    /// names are skipped (the plugin's schema rules them out).
    pub fn from_names(names: &[String]) -> Vec<Self> {
        names
            .iter()
            .filter_map(|n| CaptureField::from_name(n))
            .collect()
    }
}

/// A card while it exists: sealed. No `Serialize`, no `Display`; `Debug`
/// shows brand and last four only; the digits are overwritten on drop.
pub struct SealedCard {
    number: Vec<u8>,
    expiry: Vec<u8>,
    cvv: Vec<u8>,
}

impl SealedCard {
    /// The issuer, from the number's range.
    pub fn brand(&self) -> &'static str {
        card_brand(&self.number).unwrap_or("unknown")
    }

    /// The last four digits, which may be shown and stored.
    pub fn last4(&self) -> String {
        String::from_utf8_lossy(&self.number[self.number.len().saturating_sub(4)..]).into_owned()
    }

    /// The digits, for a tokenizer to send to the processor. The only way out.
    pub fn expose(&self) -> (&str, &str, &str) {
        fn text(bytes: &[u8]) -> &str {
            std::str::from_utf8(bytes).unwrap_or_default()
        }
        (text(&self.number), text(&self.expiry), text(&self.cvv))
    }
}

impl std::fmt::Debug for SealedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCard")
            .field("brand", &self.brand())
            .field("last4", &self.last4())
            .finish()
    }
}

impl Drop for SealedCard {
    fn drop(&mut self) {
        // `zeroize` writes in a way the compiler cannot drop as dead stores.
        self.number.zeroize();
        self.expiry.zeroize();
        self.cvv.zeroize();
    }
}

/// Why a capture ended without a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureFailure {
    /// Too many wrong entries of one field.
    TooManyTries(&'static str),
    /// The caller stopped answering.
    NoInput,
}

impl std::fmt::Display for CaptureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureFailure::TooManyTries(field) => {
                write!(f, "too many wrong entries of the {field}")
            }
            CaptureFailure::NoInput => f.write_str("the caller entered nothing"),
        }
    }
}

/// Ends a capture: the card handed to `tokenizer`, or why there is no
/// token. The error never carries the card's digits.
pub fn finish(
    result: Result<SealedCard, CaptureFailure>,
    tokenizer: &dyn PaymentTokenizer,
) -> Result<CardToken, String> {
    tokenizer.tokenize(&result.map_err(|e| e.to_string())?)
}

/// What the collector wants next.
#[derive(Debug)]
pub enum CollectStep {
    /// Keep listening: the field is not finished.
    Wait,
    /// Say this and wait for keys.
    Prompt(String),
    /// Finished: a card, or why not.
    Done(Result<SealedCard, CaptureFailure>),
}

/// Collects card fields from keys, one field at a time; a field ends with
/// `#` (or when it has as many digits as it can have).
pub struct SecureCollector {
    fields: Vec<CaptureField>,
    next: usize,
    tries: u32,
    attempts: u32,
    now_ms: i64,
    locale: Prompts,
    buffer: Vec<u8>,
    number: Vec<u8>,
    expiry: Vec<u8>,
    cvv: Vec<u8>,
}

impl std::fmt::Debug for SecureCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureCollector")
            .field("field", &self.fields.get(self.next))
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl SecureCollector {
    /// A collector for `fields` (in the order given); returns it with the
    /// first prompt.
    pub fn new(fields: &[CaptureField], now_ms: i64, locale: &str) -> (Self, String) {
        let fields = if fields.is_empty() {
            CaptureField::ALL.to_vec()
        } else {
            fields.to_vec()
        };
        let collector = SecureCollector {
            fields,
            next: 0,
            tries: 0,
            attempts: 1,
            now_ms,
            locale: Prompts::for_locale(locale),
            buffer: Vec::new(),
            number: Vec::new(),
            expiry: Vec::new(),
            cvv: Vec::new(),
        };
        let prompt = collector.ask();
        (collector, prompt)
    }

    /// How many entries the caller made in all, for the evidence.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn field(&self) -> CaptureField {
        self.fields[self.next]
    }

    fn ask(&self) -> String {
        self.locale.ask(self.field()).to_owned()
    }

    /// The caller pressed `keys`.
    pub fn keys(&mut self, keys: &str) -> CollectStep {
        for key in keys.bytes() {
            if key == b'#' || key == b'*' {
                if let Some(step) = self.finish_field() {
                    return step;
                }
                continue;
            }
            if key.is_ascii_digit() {
                self.buffer.push(key);
                let full = match self.field() {
                    CaptureField::Number => 19,
                    CaptureField::Expiry => 4,
                    CaptureField::Cvv => 4,
                };
                if self.buffer.len() == full
                    && self.field() != CaptureField::Cvv
                    && let Some(step) = self.finish_field()
                {
                    return step;
                }
            }
        }
        CollectStep::Wait
    }

    /// The caller went quiet: ask again, or give up after [`MAX_TRIES`].
    pub fn timeout(&mut self) -> CollectStep {
        self.wipe_buffer();
        self.tries += 1;
        if self.tries >= MAX_TRIES {
            return CollectStep::Done(Err(CaptureFailure::NoInput));
        }
        CollectStep::Prompt(self.ask())
    }

    /// Ends the current field; `Some` when there is something to say or the
    /// capture is over.
    fn finish_field(&mut self) -> Option<CollectStep> {
        let entry = std::mem::take(&mut self.buffer);
        let valid = match self.field() {
            CaptureField::Number => card_valid(&entry),
            CaptureField::Expiry => expiry_valid(&entry, self.now_ms),
            CaptureField::Cvv => {
                let amex = card_brand(&self.number) == Some("amex");
                entry.len() == if amex { 4 } else { 3 }
            }
        };
        if !valid {
            let mut entry = entry;
            entry.zeroize();
            self.tries += 1;
            if self.tries >= MAX_TRIES {
                let name = match self.field() {
                    CaptureField::Number => "number",
                    CaptureField::Expiry => "expiry",
                    CaptureField::Cvv => "cvv",
                };
                return Some(CollectStep::Done(Err(CaptureFailure::TooManyTries(name))));
            }
            self.attempts += 1;
            return Some(CollectStep::Prompt(format!(
                "{} {}",
                self.locale.invalid(),
                self.ask()
            )));
        }
        match self.field() {
            CaptureField::Number => self.number = entry,
            CaptureField::Expiry => self.expiry = entry,
            CaptureField::Cvv => self.cvv = entry,
        }
        self.tries = 0;
        self.next += 1;
        if self.next < self.fields.len() {
            self.attempts += 1;
            return Some(CollectStep::Prompt(self.ask()));
        }
        Some(CollectStep::Done(Ok(SealedCard {
            number: std::mem::take(&mut self.number),
            expiry: std::mem::take(&mut self.expiry),
            cvv: std::mem::take(&mut self.cvv),
        })))
    }

    fn wipe_buffer(&mut self) {
        self.buffer.zeroize();
    }
}

impl Drop for SecureCollector {
    fn drop(&mut self) {
        self.buffer.zeroize();
        self.number.zeroize();
        self.expiry.zeroize();
        self.cvv.zeroize();
    }
}

/// `MMYY`, a real month, not before the current month.
fn expiry_valid(entry: &[u8], now_ms: i64) -> bool {
    if entry.len() != 4 {
        return false;
    }
    let digits: Vec<u32> = entry.iter().map(|b| u32::from(b - b'0')).collect();
    let month = digits[0] * 10 + digits[1];
    let year = 2000 + (digits[2] * 10 + digits[3]) as i32;
    let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
        return false;
    };
    (1..=12).contains(&month)
        && (year, month) >= (now.year(), now.month())
        && year <= now.year() + 20
}

/// The collector's prompts in one language.
#[derive(Debug, Clone, Copy)]
struct Prompts {
    number: &'static str,
    expiry: &'static str,
    cvv: &'static str,
    invalid: &'static str,
}

impl Prompts {
    fn for_locale(locale: &str) -> Self {
        match locale.split(['-', '_']).next().unwrap_or("en") {
            "es" => Prompts {
                number: "Marque el número de su tarjeta y luego la tecla numeral.",
                expiry: "Marque la fecha de vencimiento, mes y año con dos dígitos cada uno, y luego la tecla numeral.",
                cvv: "Marque el código de seguridad y luego la tecla numeral.",
                invalid: "Ese dato no es válido.",
            },
            "de" => Prompts {
                number: "Bitte geben Sie Ihre Kartennummer ein und drücken Sie dann die Raute-Taste.",
                expiry: "Bitte geben Sie das Ablaufdatum ein, Monat und Jahr mit je zwei Ziffern, dann die Raute-Taste.",
                cvv: "Bitte geben Sie den Sicherheitscode ein und drücken Sie dann die Raute-Taste.",
                invalid: "Diese Eingabe ist ungültig.",
            },
            "fr" => Prompts {
                number: "Veuillez saisir le numéro de votre carte, puis la touche dièse.",
                expiry: "Veuillez saisir la date d'expiration, mois et année sur deux chiffres, puis la touche dièse.",
                cvv: "Veuillez saisir le code de sécurité, puis la touche dièse.",
                invalid: "Cette saisie n'est pas valide.",
            },
            "hi" => Prompts {
                number: "कृपया अपना कार्ड नंबर दर्ज करें और फिर हैश दबाएँ।",
                expiry: "कृपया समाप्ति तिथि दर्ज करें, महीना और वर्ष दो-दो अंकों में, फिर हैश दबाएँ।",
                cvv: "कृपया सुरक्षा कोड दर्ज करें और फिर हैश दबाएँ।",
                invalid: "यह प्रविष्टि मान्य नहीं है।",
            },
            _ => Prompts {
                number: "Please enter your card number, then press pound.",
                expiry: "Please enter the expiry date, two digits for the month and two for the year, then press pound.",
                cvv: "Please enter the card's security code, then press pound.",
                invalid: "Sorry, that entry is not valid.",
            },
        }
    }

    fn ask(&self, field: CaptureField) -> &'static str {
        match field {
            CaptureField::Number => self.number,
            CaptureField::Expiry => self.expiry,
            CaptureField::Cvv => self.cvv,
        }
    }

    fn invalid(&self) -> &'static str {
        self.invalid
    }
}

/// What the processor returns for a card: safe to store and show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    pub token: String,
    pub last4: String,
    pub brand: String,
}

/// The payment-tokenizer port: hands a sealed card to the tenant's payment
/// processor and returns its token. Adapters: [`LocalVault`] (simulations,
/// conversation tests, the terminal call by default) and, in `studio-api`
/// (the runtime does no HTTP), `HttpsTokenizer`, which signs its request to
/// the tenant's processor.
pub trait PaymentTokenizer: Send + Sync {
    /// # Errors
    /// When the processor refuses the card or cannot be reached; the message
    /// must never contain the card's digits.
    fn tokenize(&self, card: &SealedCard) -> Result<CardToken, String>;
}

/// A processor that keeps cards in process memory under random tokens: the
/// stand-in for a real processor in simulations and tests. It stores the
/// number and expiry (as a processor would) and never the CVV.
pub struct LocalVault {
    key: [u8; 32],
    cards: Mutex<HashMap<String, VaultedCard>>,
}

/// What the vault keeps per token, as a processor would (never the CVV);
/// nothing reads it back, and it is wiped when dropped.
struct VaultedCard {
    _number: Zeroizing<Vec<u8>>,
    _expiry: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for LocalVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVault").finish_non_exhaustive()
    }
}

impl Default for LocalVault {
    fn default() -> Self {
        LocalVault::new()
    }
}

impl LocalVault {
    /// A vault with a fresh random key.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS has a random source");
        LocalVault {
            key,
            cards: Mutex::new(HashMap::new()),
        }
    }

    /// How many cards the vault holds.
    pub fn len(&self) -> usize {
        self.cards.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether the vault holds no card.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PaymentTokenizer for LocalVault {
    fn tokenize(&self, card: &SealedCard) -> Result<CardToken, String> {
        let (number, expiry, _cvv) = card.expose();
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).map_err(|e| e.to_string())?;
        mac.update(number.as_bytes());
        mac.update(expiry.as_bytes());
        let token = format!("tok_{}", &hex::encode(mac.finalize().into_bytes())[..24]);
        self.cards
            .lock()
            .map_err(|_| "vault unavailable".to_owned())?
            .insert(
                token.clone(),
                VaultedCard {
                    _number: Zeroizing::new(number.as_bytes().to_vec()),
                    _expiry: Zeroizing::new(expiry.as_bytes().to_vec()),
                },
            );
        Ok(CardToken {
            token,
            last4: card.last4(),
            brand: card.brand().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T00:00:00Z.
    const NOW: i64 = 1_795_305_600_000;

    type Outcome = Option<Result<SealedCard, CaptureFailure>>;

    /// The prompts heard and, if the capture finished, its result.
    fn collect(keys: &[&str]) -> (Vec<String>, Outcome) {
        let (mut c, first) = SecureCollector::new(&CaptureField::ALL, NOW, "en-US");
        let mut prompts = vec![first];
        for k in keys {
            match c.keys(k) {
                CollectStep::Wait => {}
                CollectStep::Prompt(p) => prompts.push(p),
                CollectStep::Done(result) => return (prompts, Some(result)),
            }
        }
        (prompts, None)
    }

    #[test]
    fn a_valid_card_is_collected_field_by_field() {
        let (prompts, done) = collect(&["4111111111111111#", "1228#", "123#"]);
        assert_eq!(prompts.len(), 3);
        let card = done.unwrap().unwrap();
        assert_eq!(card.brand(), "visa");
        assert_eq!(card.expose(), ("4111111111111111", "1228", "123"));
    }

    #[test]
    fn keys_may_arrive_one_at_a_time() {
        let mut keys: Vec<String> = "5555555555554444#0130#737#"
            .chars()
            .map(String::from)
            .collect();
        keys.retain(|k| !k.is_empty());
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (_, done) = collect(&refs);
        assert_eq!(done.unwrap().unwrap().brand(), "mastercard");
    }

    #[test]
    fn a_wrong_luhn_digit_is_asked_again_and_three_strikes_fail() {
        let (prompts, done) = collect(&["4111111111111112#", "4111111111111113#"]);
        assert!(
            prompts[1].starts_with("Sorry, that entry is not valid."),
            "{prompts:?}"
        );
        assert!(done.is_none());
        let (_, done) = collect(&[
            "4111111111111112#",
            "4111111111111113#",
            "4111111111111114#",
        ]);
        assert_eq!(
            done.unwrap().unwrap_err(),
            CaptureFailure::TooManyTries("number")
        );
    }

    #[test]
    fn an_expired_or_impossible_expiry_is_refused() {
        assert!(!expiry_valid(b"1025", NOW), "October 2025 is past");
        assert!(expiry_valid(b"1126", NOW), "this month is still valid");
        assert!(!expiry_valid(b"1326", NOW), "there is no 13th month");
        assert!(!expiry_valid(b"0026", NOW));
        assert!(!expiry_valid(b"128", NOW));
    }

    #[test]
    fn amex_takes_a_four_digit_cvv_and_others_three() {
        let (_, done) = collect(&["378282246310005#", "1228#", "123#"]);
        assert!(done.is_none(), "three digits are not an Amex CVV");
        let (_, done) = collect(&["378282246310005#", "1228#", "1234#"]);
        assert_eq!(done.unwrap().unwrap().brand(), "amex");
    }

    #[test]
    fn the_sealed_card_never_prints_its_digits() {
        let (_, done) = collect(&["4111111111111111#", "1228#", "123#"]);
        let card = done.unwrap().unwrap();
        let shown = format!("{card:?}");
        assert!(!shown.contains("41111111"), "{shown}");
        assert!(!shown.contains("123"), "{shown}");
    }

    #[test]
    fn the_vault_returns_a_token_without_the_digits() {
        let (_, done) = collect(&["4111111111111111#", "1228#", "123#"]);
        let vault = LocalVault::new();
        let token = vault.tokenize(&done.unwrap().unwrap()).unwrap();
        assert!(token.token.starts_with("tok_"));
        assert!(!token.token.contains("4111"));
        assert_eq!(
            (token.last4.as_str(), token.brand.as_str()),
            ("1111", "visa")
        );
        assert_eq!(vault.len(), 1);
    }

    #[test]
    fn brands_follow_issuer_ranges() {
        assert_eq!(card_brand(b"6011111111111117"), Some("discover"));
        assert_eq!(card_brand(b"3530111333300000"), Some("jcb"));
        assert_eq!(card_brand(b"6521111111111111"), Some("discover"));
        assert_eq!(card_brand(b"6071111111111111"), Some("rupay"));
        assert_eq!(card_brand(b"1234567812345670"), None);
    }
}
