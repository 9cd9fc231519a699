//! Per-tenant data keys on top of [`crate::crypto`]: created on first use,
//! stored wrapped by the master key, cached unwrapped in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;

use crate::crypto::{DataKey, MasterKey};
use crate::db::{Db, TenantId, new_id};

/// The master key and the unwrapped data keys it has opened.
#[derive(Debug)]
pub struct Keyring {
    master: MasterKey,
    cache: Mutex<HashMap<(TenantId, String), DataKey>>,
    current: Mutex<HashMap<TenantId, String>>,
}

impl Keyring {
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            cache: Mutex::default(),
            current: Mutex::default(),
        }
    }

    pub fn master_id(&self) -> String {
        self.master.id()
    }

    /// The tenant's current data key and its id, made on first use.
    pub async fn current(&self, db: &Db, tenant: &TenantId) -> anyhow::Result<(String, DataKey)> {
        let known = self
            .current
            .lock()
            .expect("keyring lock")
            .get(tenant)
            .cloned();
        if let Some(id) = known {
            return Ok((id.clone(), self.by_id(db, tenant, &id).await?));
        }
        let (id, key) = match db.current_data_key(tenant).await? {
            Some((id, wrapped)) => {
                let key = self.unwrap(&wrapped, tenant, &id)?;
                (id, key)
            }
            None => {
                let key = DataKey::generate();
                let id = new_id("dk");
                db.insert_data_key(
                    tenant,
                    &id,
                    &self.master.wrap(&key, tenant.as_str()),
                    &self.master.id(),
                )
                .await?;
                (id, key)
            }
        };
        self.cache
            .lock()
            .expect("keyring lock")
            .insert((tenant.clone(), id.clone()), key.clone());
        self.current
            .lock()
            .expect("keyring lock")
            .insert(tenant.clone(), id.clone());
        Ok((id, key))
    }

    /// A data key by id (sealed rows name the key that sealed them).
    pub async fn by_id(&self, db: &Db, tenant: &TenantId, id: &str) -> anyhow::Result<DataKey> {
        let cached = self
            .cache
            .lock()
            .expect("keyring lock")
            .get(&(tenant.clone(), id.to_owned()))
            .cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        let wrapped = db
            .data_key(tenant, id)
            .await?
            .with_context(|| format!("data key {id} of tenant {tenant} is missing"))?;
        let key = self.unwrap(&wrapped, tenant, id)?;
        self.cache
            .lock()
            .expect("keyring lock")
            .insert((tenant.clone(), id.to_owned()), key.clone());
        Ok(key)
    }

    fn unwrap(&self, wrapped: &[u8], tenant: &TenantId, id: &str) -> anyhow::Result<DataKey> {
        self.master.unwrap(wrapped, tenant.as_str()).map_err(|_| {
            anyhow::anyhow!(
                "data key {id} of tenant {tenant} does not open with master key {}; \
                 was the master key replaced without `switchyard master-key rotate`?",
                self.master.id()
            )
        })
    }
}

/// Checks that `master` opens every tenant's data key; returns how many
/// there are. Changes nothing.
pub async fn check_master(db: &Db, master: &MasterKey) -> anyhow::Result<usize> {
    let keys = db.all_data_keys().await?;
    for (tenant, id, wrapped, _) in &keys {
        open_with(master, wrapped, tenant, id)?;
    }
    Ok(keys.len())
}

fn open_with(
    master: &MasterKey,
    wrapped: &[u8],
    tenant: &TenantId,
    id: &str,
) -> anyhow::Result<DataKey> {
    master.unwrap(wrapped, tenant.as_str()).map_err(|_| {
        anyhow::anyhow!(
            "data key {id} of tenant {tenant} does not open with master key {}",
            master.id()
        )
    })
}

/// Rewraps every tenant's data keys from `old` to `new`, in one transaction:
/// either every key moves or none does. Sealed data is untouched.
pub async fn rotate_master(db: &Db, old: &MasterKey, new: &MasterKey) -> anyhow::Result<usize> {
    let keys = db.all_data_keys().await?;
    let mut tx = db.pool.begin().await?;
    for (tenant, id, wrapped, _) in &keys {
        let key = open_with(old, wrapped, tenant, id)?;
        sqlx::query("UPDATE data_keys SET wrapped = $1, master_key_id = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(new.wrap(&key, tenant.as_str()))
            .bind(new.id())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(keys.len())
}
