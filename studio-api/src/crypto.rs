//! Encryption at rest: envelope encryption with AES-256-GCM.
//!
//! A master key (32 bytes, from a file or the `SWITCHYARD_MASTER_KEY`
//! environment variable) wraps one data key per tenant; data keys seal
//! transcripts, event logs, evidence, secrets and recordings. Rotating the
//! master key rewraps the data keys and touches no sealed data.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag`, with the
//! tenant id and the value's place (table, row, column) as associated data,
//! so a sealed value copied to another row or tenant does not open.
//!
//! ```
//! use switchyard_studio_api::crypto::{DataKey, MasterKey};
//! let master = MasterKey::from_bytes([7; 32]);
//! let data = DataKey::generate();
//! let wrapped = master.wrap(&data, "tenant_1");
//! let data = master.unwrap(&wrapped, "tenant_1").unwrap();
//! let sealed = data.seal(b"hello", b"calls/1/transcript");
//! assert_eq!(data.open(&sealed, b"calls/1/transcript").unwrap(), b"hello");
//! assert!(data.open(&sealed, b"calls/2/transcript").is_err());
//! ```

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// The key that wraps every tenant's data keys.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id()).finish()
    }
}

/// A sealed value did not open: wrong key, wrong place, or tampered.
#[derive(Debug, thiserror::Error)]
#[error("sealed data did not open (wrong key or tampered)")]
pub struct OpenError;

impl MasterKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(key),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self::from_bytes(random_key())
    }

    /// Parses 32 bytes written as 64 hex digits or as base64.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text)?
            } else {
                BASE64
                    .decode(text)
                    .context("a master key is 32 bytes as 64 hex digits or base64")?
            },
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("a master key is 32 bytes, this one is {}", bytes.len())
        })?;
        Ok(Self::from_bytes(key))
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a new
    /// random key when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Self::parse(&text).with_context(|| format!("reading master key {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                key.write_new(path)?;
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("reading master key {}", path.display())),
        }
    }

    /// Writes the key to a new file that only its owner can read.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .with_context(|| format!("creating master key {}", path.display()))?;
        file.write_all(hex::encode(*self.key).as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        Ok(())
    }

    /// A short, public fingerprint of the key: which master key wrapped a data key.
    pub fn id(&self) -> String {
        let digest =
            Sha256::digest([b"switchyard master key id\0".as_slice(), &*self.key].concat());
        format!("mk_{}", hex::encode(&digest[..6]))
    }

    /// Wraps a data key for `tenant`.
    pub fn wrap(&self, data: &DataKey, tenant: &str) -> Vec<u8> {
        seal_with(&self.key, &*data.key, wrap_aad(tenant).as_bytes())
    }

    /// Unwraps a data key wrapped for `tenant`.
    pub fn unwrap(&self, wrapped: &[u8], tenant: &str) -> Result<DataKey, OpenError> {
        let bytes = Zeroizing::new(open_with(&self.key, wrapped, wrap_aad(tenant).as_bytes())?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| OpenError)?;
        Ok(DataKey {
            key: Zeroizing::new(key),
        })
    }
}

fn wrap_aad(tenant: &str) -> String {
    format!("switchyard data key\0{tenant}")
}

/// One tenant's data key.
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        Self {
            key: Zeroizing::new(random_key()),
        }
    }

    /// Seals `plaintext`; `place` names where it is stored (associated data).
    pub fn seal(&self, plaintext: &[u8], place: &[u8]) -> Vec<u8> {
        seal_with(&self.key, plaintext, place)
    }

    /// Opens what [`DataKey::seal`] sealed for the same `place`.
    pub fn open(&self, sealed: &[u8], place: &[u8]) -> Result<Vec<u8>, OpenError> {
        open_with(&self.key, sealed, place)
    }

    /// The raw key, for the recording store's stream cipher.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    key
}

fn seal_with(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the OS random source is available");
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_key_survives_wrapping_and_only_for_its_tenant() {
        let master = MasterKey::generate();
        let data = DataKey::generate();
        let wrapped = master.wrap(&data, "t1");
        assert!(master.unwrap(&wrapped, "t2").is_err());
        let again = master.unwrap(&wrapped, "t1").unwrap();
        let sealed = data.seal(b"secret", b"p");
        assert_eq!(again.open(&sealed, b"p").unwrap(), b"secret");
        assert!(MasterKey::generate().unwrap(&wrapped, "t1").is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let data = DataKey::generate();
        let mut sealed = data.seal(b"secret", b"p");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(data.open(&sealed, b"p").is_err());
        assert!(data.open(&sealed[..10], b"p").is_err());
    }

    #[test]
    fn master_keys_parse_from_hex_and_base64_and_say_what_is_wrong() {
        let key = [3u8; 32];
        assert_eq!(
            MasterKey::parse(&hex::encode(key)).unwrap().id(),
            MasterKey::from_bytes(key).id()
        );
        assert_eq!(
            MasterKey::parse(&BASE64.encode(key)).unwrap().id(),
            MasterKey::from_bytes(key).id()
        );
        let error = MasterKey::parse(&BASE64.encode([1u8; 16]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("32 bytes, this one is 16"), "{error}");
    }

    #[test]
    fn a_created_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let second = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
