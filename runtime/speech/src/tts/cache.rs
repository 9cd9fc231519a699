//! A bounded cache of rendered prompts.
//!
//! Flows say the same fixed prompts on every call ("Press one for sales"),
//! and synthesis is the slowest step between a key press and the next
//! prompt; keeping the audio makes the second call's prompt instant and
//! saves a cloud provider's per-character charge.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::ports::{BoxFuture, SpeechError, Tts};

/// The default budget: ten minutes of 8 kHz audio (about 9.6 MB).
pub const DEFAULT_CACHE_SAMPLES: usize = 8_000 * 60 * 10;

/// A [`Tts`] that remembers what `inner` rendered, keyed by text and
/// locale, least recently used first out once the audio held passes a
/// budget in samples.
///
/// Two concurrent requests for a text not yet cached both synthesize (no
/// request waits on another's provider call); the second result simply
/// replaces the first. Failures are not cached.
#[derive(Debug)]
pub struct Cached<T> {
    inner: T,
    max_samples: usize,
    state: Mutex<Lru>,
}

type Key = (String, String);

/// Entries plus a use order: `order` maps a use tick to its key, so the
/// least recently used entry is the first in the map.
#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<Key, (Arc<[i16]>, u64)>,
    order: BTreeMap<u64, Key>,
    samples: usize,
    tick: u64,
}

impl Lru {
    fn get(&mut self, key: &Key) -> Option<Arc<[i16]>> {
        self.tick += 1;
        let tick = self.tick;
        let (audio, used) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, key.clone());
        Some(audio.clone())
    }

    fn insert(&mut self, key: Key, audio: Arc<[i16]>, max_samples: usize) {
        if audio.len() > max_samples {
            return;
        }
        self.tick += 1;
        if let Some((old, used)) = self.entries.remove(&key) {
            self.order.remove(&used);
            self.samples -= old.len();
        }
        while self.samples + audio.len() > max_samples {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&oldest) {
                self.samples -= old.len();
            }
        }
        self.samples += audio.len();
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (audio, self.tick));
    }
}

impl<T: Tts> Cached<T> {
    /// Caches `inner`'s audio up to `max_samples` samples in all (see
    /// [`DEFAULT_CACHE_SAMPLES`]); a rendering longer than that is passed
    /// through uncached.
    pub fn new(inner: T, max_samples: usize) -> Self {
        Self {
            inner,
            max_samples,
            state: Mutex::new(Lru::default()),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// How many renderings are held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many samples are held in all (never above the budget).
    pub fn samples(&self) -> usize {
        self.lock().samples
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // The lock is never held across an await or a call out, so a
        // poisoned lock can only mean a panic inside the map code above;
        // its data is still consistent enough to keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Tts> Tts for Cached<T> {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>> {
        Box::pin(async move {
            let key = (text.to_owned(), locale.to_owned());
            if let Some(audio) = self.lock().get(&key) {
                return Ok(audio);
            }
            let audio = self.inner.synthesize(text, locale).await?;
            self.lock().insert(key, audio.clone(), self.max_samples);
            Ok(audio)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        (text.to_owned(), "en-US".to_owned())
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::default();
        lru.insert(key("a"), Arc::from(vec![0i16; 4]), 10);
        lru.insert(key("b"), Arc::from(vec![0i16; 4]), 10);
        assert!(lru.get(&key("a")).is_some()); // `b` is now the oldest
        lru.insert(key("c"), Arc::from(vec![0i16; 4]), 10);
        assert!(lru.get(&key("b")).is_none());
        assert!(lru.get(&key("a")).is_some());
        assert!(lru.get(&key("c")).is_some());
        assert_eq!(lru.samples, 8);
        assert_eq!(lru.order.len(), lru.entries.len());
    }

    #[test]
    fn audio_over_the_budget_is_not_kept_and_replacing_keeps_the_count() {
        let mut lru = Lru::default();
        lru.insert(key("huge"), Arc::from(vec![0i16; 11]), 10);
        assert!(lru.entries.is_empty());
        lru.insert(key("a"), Arc::from(vec![0i16; 3]), 10);
        lru.insert(key("a"), Arc::from(vec![0i16; 5]), 10);
        assert_eq!(lru.samples, 5);
        assert_eq!(lru.order.len(), 1);
    }
}
