//! The in-memory twin of the RocksDB backend, for unit and simulation tests.

use super::{Backend, Column, Put, Rows, StoreError};
use std::collections::BTreeMap;
use std::sync::RwLock;

type Table = BTreeMap<Vec<u8>, Vec<u8>>;

/// Ordered maps per column behind one lock; a batch is applied under the lock, so it is atomic.
#[derive(Default)]
pub struct MemoryBackend {
    columns: RwLock<BTreeMap<Column, Table>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn poisoned() -> StoreError {
        StoreError::Database("memory backend lock poisoned".into())
    }
}

impl Backend for MemoryBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let columns = self.columns.read().map_err(|_| Self::poisoned())?;
        Ok(columns.get(&column).and_then(|t| t.get(key)).cloned())
    }

    fn write(&self, puts: &[Put<'_>]) -> Result<(), StoreError> {
        let mut columns = self.columns.write().map_err(|_| Self::poisoned())?;
        for put in puts {
            columns.entry(put.column).or_default().insert(put.key.to_vec(), put.value.to_vec());
        }
        Ok(())
    }

    fn write_unlogged(&self, puts: &[Put<'_>]) -> Result<(), StoreError> {
        self.write(puts)
    }

    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<(), StoreError> {
        let puts: Vec<Put<'_>> = rows.iter().map(|&(key, value)| Put { column, key, value }).collect();
        self.write(&puts)
    }

    fn scan_back(&self, column: Column, prefix: &[u8], before: &[u8], limit: usize) -> Result<Rows, StoreError> {
        let columns = self.columns.read().map_err(|_| Self::poisoned())?;
        let Some(table) = columns.get(&column) else { return Ok(Vec::new()) };
        if before <= prefix {
            return Ok(Vec::new());
        }
        Ok(table
            .range(prefix.to_vec()..before.to_vec())
            .rev()
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
