//! The prompt cache, in front of a provider that counts its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_speech::tts::Cached;
use switchyard_speech::{BoxFuture, SpeechError, Tts};

/// A provider rendering each text as one sample per character, counting
/// calls; it fails while `failing` is set.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

impl Tts for Counting {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        _locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(SpeechError::Provider {
                    provider: "counting",
                    message: "down".into(),
                });
            }
            Ok(Arc::from(vec![7i16; text.len()]))
        })
    }
}

fn calls(cache: &Cached<Counting>) -> usize {
    cache.inner().calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_second_synthesis_of_the_same_prompt_does_not_reach_the_provider() {
    let cache = Cached::new(Counting::default(), 1_000);
    let first = cache
        .synthesize("Press one for sales", "en-US")
        .await
        .unwrap();
    let second = cache
        .synthesize("Press one for sales", "en-US")
        .await
        .unwrap();
    assert_eq!(calls(&cache), 1);
    assert!(Arc::ptr_eq(&first, &second), "the same audio, not a copy");
    // The locale is part of the key: the same words in another voice.
    cache
        .synthesize("Press one for sales", "en-GB")
        .await
        .unwrap();
    assert_eq!(calls(&cache), 2);
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn the_cache_stays_within_its_budget_dropping_the_least_recently_used() {
    let cache = Cached::new(Counting::default(), 30);
    cache.synthesize("aaaaaaaaaa", "en-US").await.unwrap(); // 10 samples
    cache.synthesize("bbbbbbbbbb", "en-US").await.unwrap();
    cache.synthesize("aaaaaaaaaa", "en-US").await.unwrap(); // a is fresh again
    cache.synthesize("cccccccccccccccc", "en-US").await.unwrap(); // 16: b must go
    assert!(cache.samples() <= 30);
    assert_eq!(calls(&cache), 3);
    cache.synthesize("aaaaaaaaaa", "en-US").await.unwrap();
    assert_eq!(calls(&cache), 3, "a was kept");
    cache.synthesize("bbbbbbbbbb", "en-US").await.unwrap();
    assert_eq!(calls(&cache), 4, "b was evicted");
    // A rendering bigger than the whole budget passes through uncached.
    let huge = "x".repeat(31);
    cache.synthesize(&huge, "en-US").await.unwrap();
    cache.synthesize(&huge, "en-US").await.unwrap();
    assert_eq!(calls(&cache), 6);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let cache = Cached::new(Counting::default(), 1_000);
    cache.inner().failing.store(true, Ordering::SeqCst);
    assert!(cache.synthesize("Hello", "en-US").await.is_err());
    cache.inner().failing.store(false, Ordering::SeqCst);
    assert_eq!(cache.synthesize("Hello", "en-US").await.unwrap().len(), 5);
    assert_eq!(calls(&cache), 2);
    assert!(!cache.is_empty());
}

#[tokio::test]
async fn concurrent_requests_for_a_new_prompt_both_get_audio() {
    let cache = Arc::new(Cached::new(Counting::default(), 1_000));
    let (a, b) = tokio::join!(
        cache.synthesize("Welcome", "en-US"),
        cache.synthesize("Welcome", "en-US")
    );
    assert_eq!(a.unwrap().len(), 7);
    assert_eq!(b.unwrap().len(), 7);
    // Both may have reached the provider; either way one entry is kept.
    assert!((1..=2).contains(&calls(&cache)));
    assert_eq!(cache.len(), 1);
}
