//! The recording store: call recordings sealed at rest in
//! `DATA_DIR/recordings/<tenant>/<call>.sealed`, written by the media core
//! with [`put`], streamed back decrypted on the fly with [`open`], and
//! erased with [`delete`].
//!
//! # File format
//!
//! ```text
//! "SYREC\0\x01\0"          8 bytes: magic and format version 1
//! key id length            u16, big-endian
//! key id                   the tenant's data key that sealed the file
//! nonce prefix             7 random bytes
//! chunk size               u32, big-endian (plaintext bytes per chunk)
//! chunks                   each chunk-size bytes + 16-byte tag; the last shorter
//! ```
//!
//! The chunks are the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár; `aead::stream::EncryptorBE32` over AES-256-GCM): each chunk has
//! its own nonce (prefix, counter, last-chunk flag), so a recording of any
//! length is sealed and opened in constant memory, and reordered, dropped or
//! truncated chunks fail to open. The associated data of every chunk is the
//! file's place (`recordings/<tenant>/<call>`) and its header, so a file
//! copied to another call or tenant, or given another key id, does not open.

use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, Payload};
use anyhow::Context;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::crypto::DataKey;
use crate::db::{TenantId, now_ms};
use crate::state::AppState;

const MAGIC: &[u8; 8] = b"SYREC\0\x01\0";
const NONCE_PREFIX: usize = 7;
const TAG: usize = 16;
/// Plaintext bytes per chunk: 64 KiB is two seconds of 16-bit 16 kHz audio,
/// small enough to stream smoothly, large enough that tags cost 0.02%.
pub const CHUNK: usize = 64 << 10;

/// A call's recording file, relative to the data directory. Ids are
/// checked so no id can name a path outside the store.
pub fn relative_path(tenant: &TenantId, call_id: &str) -> anyhow::Result<PathBuf> {
    for (what, part) in [("tenant id", tenant.as_str()), ("call id", call_id)] {
        let ok = !part.is_empty()
            && part.len() <= 100
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            anyhow::bail!("a {what} in a recording path must be letters, digits, `_` or `-`");
        }
    }
    Ok(Path::new("recordings")
        .join(tenant.as_str())
        .join(format!("{call_id}.sealed")))
}

fn place(tenant: &TenantId, call_id: &str) -> String {
    format!("recordings/{tenant}/{call_id}")
}

fn header(key_id: &str, prefix: &[u8; NONCE_PREFIX]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 2 + key_id.len() + NONCE_PREFIX + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key_id.len() as u16).to_be_bytes());
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&(CHUNK as u32).to_be_bytes());
    out
}

fn associated_data(place: &str, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(place.len() + 1 + header.len());
    aad.extend_from_slice(place.as_bytes());
    aad.push(0);
    aad.extend_from_slice(header);
    aad
}

fn cipher(key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(GenericArray::from_slice(key.bytes()))
}

/// Seals everything `reader` yields as the recording of call `call_id`,
/// replacing any earlier one. The file is written beside its final name
/// and renamed into place, so a crash leaves the old recording or the new
/// one, never half of either. Returns the plaintext length.
///
/// # Errors
/// When the tenant has no such call, or on I/O failure.
pub async fn put<R: AsyncRead + Unpin>(
    state: &AppState,
    tenant: &TenantId,
    call_id: &str,
    mut reader: R,
) -> anyhow::Result<u64> {
    let relative = relative_path(tenant, call_id)?;
    if state.db.call(tenant, call_id).await?.is_none() {
        anyhow::bail!("tenant {tenant} has no call {call_id}");
    }
    let (key_id, key) = state.keyring.current(&state.db, tenant).await?;
    let path = state.config.data_dir.join(&relative);
    let dir = path.parent().context("recording path has a directory")?;
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let partial = path.with_extension(format!("part-{}", crate::db::new_id("w")));
    let written = async {
        let mut prefix = [0u8; NONCE_PREFIX];
        getrandom::fill(&mut prefix).expect("the OS random source is available");
        let head = header(&key_id, &prefix);
        let aad = associated_data(&place(tenant, call_id), &head);
        let mut encryptor =
            EncryptorBE32::from_aead(cipher(&key), GenericArray::from_slice(&prefix));
        let mut file = tokio::fs::File::create(&partial).await?;
        file.write_all(&head).await?;
        // Hold one chunk back: only at the end of input is it known which
        // chunk is the last, and the last is sealed differently.
        let mut buffer = Vec::with_capacity(CHUNK * 2);
        let mut total = 0u64;
        let mut scratch = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut scratch).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
            buffer.extend_from_slice(&scratch[..n]);
            while buffer.len() > CHUNK {
                let sealed = encryptor
                    .encrypt_next(Payload {
                        msg: &buffer[..CHUNK],
                        aad: &aad,
                    })
                    .map_err(|_| anyhow::anyhow!("recording too long to seal"))?;
                file.write_all(&sealed).await?;
                buffer.drain(..CHUNK);
            }
        }
        let sealed = encryptor
            .encrypt_last(Payload {
                msg: &buffer,
                aad: &aad,
            })
            .map_err(|_| anyhow::anyhow!("sealing the last chunk failed"))?;
        file.write_all(&sealed).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, &path).await?;
        anyhow::Ok(total)
    }
    .await;
    let total = match written {
        Ok(total) => total,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e.context(format!("writing recording of call {call_id}")));
        }
    };
    let relative = relative.to_string_lossy().into_owned();
    state
        .db
        .set_call_recording(tenant, call_id, Some(&relative), now_ms())
        .await?;
    Ok(total)
}

/// [`put`] from memory.
///
/// # Errors
/// As [`put`].
pub async fn put_bytes(
    state: &AppState,
    tenant: &TenantId,
    call_id: &str,
    bytes: &[u8],
) -> anyhow::Result<u64> {
    put(state, tenant, call_id, bytes).await
}

/// A stored recording, opened: its plaintext length and a stream of its
/// decrypted bytes.
pub struct Recording {
    /// Plaintext bytes the stream yields.
    pub len: u64,
    file: tokio::fs::File,
    /// `None` once the last chunk has been opened.
    decryptor: Option<DecryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    /// Sealed chunks left to read, each with its sealed length.
    chunks: std::vec::IntoIter<usize>,
    /// The first chunk, opened in [`open`] so that a recording that does
    /// not open at all fails before a response has begun.
    first: Option<Bytes>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Recording {
    /// Reads and opens the next chunk; `None` after the last.
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        let Some(len) = self.chunks.next() else {
            return Ok(None);
        };
        let Some(decryptor) = self.decryptor.as_mut() else {
            return Ok(None);
        };
        let mut sealed = vec![0u8; len];
        self.file.read_exact(&mut sealed).await?;
        let payload = Payload {
            msg: &sealed,
            aad: &self.aad,
        };
        let plain = if self.chunks.len() == 0 {
            let last = self.decryptor.take().expect("checked above");
            last.decrypt_last(payload)
        } else {
            decryptor.decrypt_next(payload)
        }
        .map_err(|_| {
            std::io::Error::other("recording chunk does not open (tampered or wrong key)")
        })?;
        Ok(Some(Bytes::from(plain)))
    }

    /// The decrypted bytes, one chunk at a time. A chunk that does not open
    /// (tampered, truncated, wrong key) ends the stream with an error, so a
    /// client never receives unauthenticated audio as if it were whole.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::try_unfold(self, |mut recording| async move {
            if let Some(first) = recording.first.take() {
                return Ok(Some((first, recording)));
            }
            Ok(recording
                .next_chunk()
                .await?
                .map(|chunk| (chunk, recording)))
        })
    }
}

/// Opens call `call_id`'s recording: `Ok(None)` when the tenant has no such
/// call or the call has no recording.
///
/// # Errors
/// When the file is missing or malformed, or its key does not open.
pub async fn open(
    state: &AppState,
    tenant: &TenantId,
    call_id: &str,
) -> anyhow::Result<Option<Recording>> {
    let Some(Some(relative)) = state.db.call_recording(tenant, call_id).await? else {
        return Ok(None);
    };
    // The stored name is re-derived, never trusted as a path.
    let expected = relative_path(tenant, call_id)?;
    if Path::new(&relative) != expected {
        anyhow::bail!("call {call_id} names an unexpected recording file");
    }
    let path = state.config.data_dir.join(&expected);
    let mut file = tokio::fs::File::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().await?.len();
    let mut fixed = [0u8; 10];
    file.read_exact(&mut fixed)
        .await
        .context("recording header")?;
    if &fixed[..8] != MAGIC {
        anyhow::bail!("{} is not a sealed recording", path.display());
    }
    let key_len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let mut key_id = vec![0u8; key_len];
    file.read_exact(&mut key_id).await?;
    let key_id = String::from_utf8(key_id).context("recording key id")?;
    let mut prefix = [0u8; NONCE_PREFIX];
    file.read_exact(&mut prefix).await?;
    let mut chunk = [0u8; 4];
    file.read_exact(&mut chunk).await?;
    let chunk = u32::from_be_bytes(chunk) as usize;
    if chunk == 0 || chunk > 16 << 20 {
        anyhow::bail!("{}: bad chunk size {chunk}", path.display());
    }
    let head = header(&key_id, &prefix);
    let head_len = head.len() as u64;
    file.seek(std::io::SeekFrom::Start(head_len)).await?;
    let body = size.saturating_sub(head_len) as usize;
    let sealed_chunk = chunk + TAG;
    if body < TAG {
        anyhow::bail!("{}: truncated", path.display());
    }
    // Every chunk is full but the last, which holds 0..=chunk bytes.
    let count = body.div_ceil(sealed_chunk);
    let mut lengths = vec![sealed_chunk; count];
    let rest = body - (count - 1) * sealed_chunk;
    if rest < TAG {
        anyhow::bail!("{}: truncated", path.display());
    }
    lengths[count - 1] = rest;
    let len = (body - count * TAG) as u64;
    let key = state.keyring.by_id(&state.db, tenant, &key_id).await?;
    let mut recording = Recording {
        len,
        file,
        decryptor: Some(DecryptorBE32::from_aead(
            cipher(&key),
            GenericArray::from_slice(&prefix),
        )),
        aad: associated_data(&place(tenant, call_id), &head),
        chunks: lengths.into_iter(),
        first: None,
    };
    recording.first = recording
        .next_chunk()
        .await
        .with_context(|| format!("recording of call {call_id}"))?;
    Ok(Some(recording))
}

/// Erases call `call_id`'s recording: the file goes, the row notes when.
/// `Ok(false)` when the tenant has no such call.
///
/// # Errors
/// On I/O or database failure.
pub async fn delete(state: &AppState, tenant: &TenantId, call_id: &str) -> anyhow::Result<bool> {
    let Some(stored) = state.db.call_recording(tenant, call_id).await? else {
        return Ok(false);
    };
    if stored.is_none() {
        return Ok(true);
    }
    let path = state.config.data_dir.join(relative_path(tenant, call_id)?);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    state
        .db
        .set_call_recording(tenant, call_id, None, now_ms())
        .await
}
