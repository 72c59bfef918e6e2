//! The RocksDB backend: one column family per [`Column`], synced write batches.

use super::{Backend, Column, Put, Rows, StoreError};
use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch,
    WriteOptions, DB,
};
use std::path::{Path, PathBuf};

/// Blocks at least this large are kept in blob files rather than in the table files.
const BLOB_MIN_BYTES: u64 = 4096;

/// The directory, inside the database's, where [`Backend::ingest`] writes its table files
/// before RocksDB takes them over (a hard link needs the same file system).
const INGEST_DIR: &str = "ingest";

/// A RocksDB database with the store's column families.
pub struct RocksBackend {
    db: DB,
    ingest_dir: PathBuf,
}

fn db_error(e: rocksdb::Error) -> StoreError {
    StoreError::Database(e.into_string())
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Level-0 files of an index column that start a compaction (RocksDB's default is 4).
const INDEX_LEVEL0_FILES: i32 = 8;

/// A column family's options, for opening it and for the table files ingested into it.
fn column_options(column: Column) -> Options {
    let mut options = Options::default();
    options.set_compression_type(DBCompressionType::Lz4);
    if matches!(column, Column::Transfers | Column::History) {
        // Index rows are hashes and public keys: LZ4 saved ~20 % of their bytes but cost half
        // of RocksDB's background CPU (each ingested table file compressed, then decompressed
        // and compressed again by every compaction): 28-39 against 19-21 ms per 10,000-transfer
        // block, for a store 8 % larger (apply_commit bench, 80 blocks).
        options.set_compression_type(DBCompressionType::None);
        // Ingested files land in level 0 and each covers the whole key space, so every
        // compaction into level 1 rewrites all of level 1. Eight files a compaction instead of
        // four halve how often that happens (index compaction CPU over 120 blocks: 31 -> 9 ms
        // per block, part of it only deferred). Reads search up to eight level-0 files.
        options.set_level_zero_file_num_compaction_trigger(INDEX_LEVEL0_FILES);
    }
    if column == Column::Blocks {
        // A block (1.7 MB at 10,000 transfers) goes to a blob file when its memtable is
        // flushed, and compactions then move only its key: they no longer copy and recompress
        // every block, which cost ~3 ms of background CPU per 10,000-transfer block. Keys,
        // signatures and hashes barely compress, so the blobs are not compressed (the store
        // grows ~14 %).
        options.set_enable_blob_files(true);
        options.set_min_blob_size(BLOB_MIN_BYTES);
        options.set_blob_compression_type(DBCompressionType::None);
    }
    options
}

impl RocksBackend {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksBackend, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(DBCompressionType::Lz4);
        options.increase_parallelism(2);
        let mut families: Vec<ColumnFamilyDescriptor> =
            Column::ALL.iter().map(|c| ColumnFamilyDescriptor::new(c.name(), column_options(*c))).collect();
        // RocksDB refuses to open a database without naming every family it has: families of
        // another format version (read by no one) are opened too, so that `Store::open` can
        // refuse the store by its format version rather than fail here.
        for name in DB::list_cf(&options, path).unwrap_or_default() {
            if name != "default" && !Column::ALL.iter().any(|c| c.name() == name) {
                families.push(ColumnFamilyDescriptor::new(name, Options::default()));
            }
        }
        let db = DB::open_cf_descriptors(&options, path, families).map_err(db_error)?;
        // Files of an ingestion cut short are not the database's: they are thrown away.
        let ingest_dir = path.join(INGEST_DIR);
        if ingest_dir.exists() {
            std::fs::remove_dir_all(&ingest_dir).map_err(io_error)?;
        }
        Ok(RocksBackend { db, ingest_dir })
    }

    /// RocksDB's statistics of each column (`rocksdb.cfstats`: per-level sizes, compaction
    /// bytes and times), for diagnostics.
    pub fn column_stats(&self) -> Result<String, StoreError> {
        let mut out = String::new();
        for column in Column::ALL {
            let stats = self.db.property_value_cf(self.family(column)?, "rocksdb.cfstats").map_err(db_error)?;
            out.push_str(&format!("column {}\n{}\n", column.name(), stats.unwrap_or_default()));
        }
        Ok(out)
    }

    /// Writes every memtable to disk and waits for the flushes, and with `compact` for the
    /// compactions that follow too: a benchmark settles the database with it before measuring,
    /// and counts what its own writes cost to flush and compact.
    pub fn flush_and_wait(&self, compact: bool) -> Result<(), StoreError> {
        if compact {
            let mut options = rocksdb::WaitForCompactOptions::default();
            options.set_flush(true);
            return self.db.wait_for_compact(&options).map_err(db_error);
        }
        let families = Column::ALL.iter().map(|c| self.family(*c)).collect::<Result<Vec<_>, _>>()?;
        self.db.flush_cfs_opt(&families, &rocksdb::FlushOptions::default()).map_err(db_error)
    }

    /// The puts as one batch, each column's rows in key order. In key order the memtable's skip
    /// list finds each insertion point next to the last one; a block's keys (hashes, public
    /// keys) arrive in random order, and inserting them so cost more CPU than the rest of the
    /// write. The sort is stable: where a key is put twice, the later value still wins.
    /// (`Store` already hands over each column sorted, which this sort then only confirms.)
    fn batch(&self, puts: &[Put<'_>]) -> Result<WriteBatch, StoreError> {
        let mut families = Vec::with_capacity(Column::ALL.len());
        for column in Column::ALL {
            families.push(self.family(column)?);
        }
        let mut ordered: Vec<&Put<'_>> = puts.iter().collect();
        ordered.sort_by(|a, b| a.column.cmp(&b.column).then_with(|| a.key.cmp(b.key)));
        let bytes: usize = puts.iter().map(|put| put.key.len() + put.value.len() + 16).sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        for put in ordered {
            batch.put_cf(families[put.column.index()], put.key, put.value);
        }
        Ok(batch)
    }

    fn family(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(column.name())
            .ok_or_else(|| StoreError::Corrupt(format!("column family {} missing", column.name())))
    }
}

impl Backend for RocksBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(column)?, key).map_err(db_error)
    }

    fn write(&self, puts: &[Put<'_>]) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(self.batch(puts)?, &options).map_err(db_error)
    }

    fn write_unlogged(&self, puts: &[Put<'_>]) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db.write_opt(self.batch(puts)?, &options).map_err(db_error)?;
        let mut written: Vec<Column> = puts.iter().map(|put| put.column).collect();
        written.sort_unstable();
        written.dedup();
        let families = written.into_iter().map(|c| self.family(c)).collect::<Result<Vec<_>, _>>()?;
        // FlushOptions waits for the flush by default: the rows are in table files when this returns.
        self.db.flush_cfs_opt(&families, &rocksdb::FlushOptions::default()).map_err(db_error)
    }

    /// Writes the rows to one table file with RocksDB's `SstFileWriter` (synced when it is
    /// finished) and has the column take the file over: no memtable insert, no flush. A crash
    /// before the ingestion leaves a stray file that the next open deletes.
    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.ingest_dir).map_err(io_error)?;
        let file = self.ingest_dir.join(format!("{}.sst", column.name()));
        let options = column_options(column);
        let mut writer = SstFileWriter::create(&options);
        writer.open(&file).map_err(db_error)?;
        for (key, value) in rows {
            writer.put(key, value).map_err(db_error)?;
        }
        writer.finish().map_err(db_error)?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        self.db.ingest_external_file_cf_opts(self.family(column)?, &ingest, vec![&file]).map_err(db_error)?;
        // Moved files are linked into the database; the name here is only a leftover.
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(e)),
            _ => Ok(()),
        }
    }

    fn scan_back(&self, column: Column, prefix: &[u8], before: &[u8], limit: usize) -> Result<Rows, StoreError> {
        let mut out = Vec::new();
        if before <= prefix {
            return Ok(out);
        }
        let mut iter = self.db.raw_iterator_cf(self.family(column)?);
        iter.seek_for_prev(before);
        // seek_for_prev lands on the last key <= before; the bound is exclusive.
        if iter.valid() && iter.key() == Some(before) {
            iter.prev();
        }
        while iter.valid() && out.len() < limit {
            match (iter.key(), iter.value()) {
                (Some(k), Some(v)) if k.starts_with(prefix) => out.push((k.to_vec(), v.to_vec())),
                _ => break,
            }
            iter.prev();
        }
        iter.status().map_err(db_error)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(column: Column, key: &'a [u8], value: &'a [u8]) -> Put<'a> {
        Put { column, key, value }
    }

    #[test]
    fn a_flush_and_wait_empties_the_memtable_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = RocksBackend::open(dir.path()).unwrap();
        let in_memtable = |db: &RocksBackend| {
            let family = db.family(Column::Snapshots).unwrap();
            db.db.property_int_value_cf(family, "rocksdb.num-entries-active-mem-table").unwrap()
        };
        db.write(&[put(Column::Snapshots, b"k", b"v"), put(Column::History, b"h", b"")]).unwrap();
        assert_eq!(in_memtable(&db), Some(1));
        db.flush_and_wait(false).unwrap();
        assert_eq!(in_memtable(&db), Some(0), "the flush emptied the memtable");
        db.write(&[put(Column::Snapshots, b"k", b"v")]).unwrap();
        db.flush_and_wait(true).unwrap();
        assert_eq!(in_memtable(&db), Some(0), "and so does the flush before a compaction wait");
        assert_eq!(db.get(Column::Snapshots, b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(db.get(Column::History, b"h").unwrap().as_deref(), Some(&b""[..]));
    }

    #[test]
    fn an_unlogged_write_is_in_table_files_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = RocksBackend::open(dir.path()).unwrap();
            db.write_unlogged(&[put(Column::Snapshots, b"s", b"rows"), put(Column::History, b"h", b"")]).unwrap();
            for column in [Column::Snapshots, Column::History] {
                let family = db.family(column).unwrap();
                let in_memtable = db.db.property_int_value_cf(family, "rocksdb.num-entries-active-mem-table").unwrap();
                assert_eq!(in_memtable, Some(0), "{column:?} was flushed");
            }
        }
        let db = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(db.get(Column::Snapshots, b"s").unwrap().as_deref(), Some(&b"rows"[..]));
    }

    #[test]
    fn a_database_with_a_family_of_another_format_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            DB::open_cf(&options, dir.path(), ["accounts", "meta"]).unwrap();
        }
        let db = RocksBackend::open(dir.path()).unwrap();
        db.write(&[put(Column::Meta, b"k", b"v")]).unwrap();
        assert_eq!(db.get(Column::Meta, b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_large_block_is_read_back_from_its_blob_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = RocksBackend::open(dir.path()).unwrap();
        let block: Vec<u8> = (0..3 * BLOB_MIN_BYTES as usize).map(|i| (i * 7) as u8).collect();
        db.write(&[put(Column::Blocks, b"h1", &block), put(Column::Blocks, b"h0", b"small")]).unwrap();
        db.flush_and_wait(true).unwrap();
        let family = db.family(Column::Blocks).unwrap();
        let blobs = db.db.property_int_value_cf(family, "rocksdb.num-blob-files").unwrap();
        assert_eq!(blobs, Some(1), "the large block went to a blob file");
        assert_eq!(db.get(Column::Blocks, b"h1").unwrap(), Some(block));
        assert_eq!(db.get(Column::Blocks, b"h0").unwrap().as_deref(), Some(&b"small"[..]));
    }

    #[test]
    fn ingested_rows_are_read_back_after_a_reopen_and_override_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = RocksBackend::open(dir.path()).unwrap();
            db.write(&[put(Column::History, b"b", b"old")]).unwrap();
            db.ingest(Column::History, &[(b"a", b"1"), (b"b", b"2"), (b"c", b"")]).unwrap();
            db.ingest(Column::History, &[]).unwrap();
            assert_eq!(db.get(Column::History, b"b").unwrap().as_deref(), Some(&b"2"[..]));
            let family = db.family(Column::History).unwrap();
            let in_memtable = db.db.property_int_value_cf(family, "rocksdb.num-entries-active-mem-table").unwrap();
            assert_eq!(in_memtable, Some(0), "the older row was flushed first; the ingested ones never entered");
            assert!(db.ingest(Column::History, &[(b"z", b""), (b"y", b"")]).is_err(), "keys out of order");
        }
        // A leftover of an ingestion cut short is removed at open.
        std::fs::write(dir.path().join(INGEST_DIR).join("history.sst"), b"partial").unwrap();
        let db = RocksBackend::open(dir.path()).unwrap();
        assert!(!dir.path().join(INGEST_DIR).exists());
        let rows = db.scan_back(Column::History, b"", b"d", 10).unwrap();
        let keys: Vec<&[u8]> = rows.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, [&b"c"[..], b"b", b"a"]);
    }

    #[test]
    fn a_key_put_twice_in_one_write_keeps_the_later_value() {
        let dir = tempfile::tempdir().unwrap();
        let db = RocksBackend::open(dir.path()).unwrap();
        db.write(&[
            put(Column::Snapshots, b"k", b"first"),
            put(Column::History, b"a", b"other column"),
            put(Column::Snapshots, b"a", b"before k"),
            put(Column::Snapshots, b"k", b"second"),
        ])
        .unwrap();
        assert_eq!(db.get(Column::Snapshots, b"k").unwrap().as_deref(), Some(&b"second"[..]));
        assert_eq!(db.get(Column::Snapshots, b"a").unwrap().as_deref(), Some(&b"before k"[..]));
        assert_eq!(db.get(Column::History, b"a").unwrap().as_deref(), Some(&b"other column"[..]));
    }
}
