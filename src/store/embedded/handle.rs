//! The open database, and the way back from a failed write. After one I/O error
//! (a full disk, a failing device) redb refuses every later call on that
//! `Database` without touching the disk, however healthy the disk has become; the
//! only way back is to close it and open it again. So a failed batch marks the
//! handle broken, and the writer reopens it before its next batch (at most every
//! [`REOPEN_EVERY`]); until that succeeds every call fails as unavailable, which
//! admissions answer 503. What was committed before the failure is untouched: redb
//! commits are copy-on-write, and a commit that failed is not one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError};

use super::writer;
use crate::store::StoreError;

/// The database file inside the data directory.
const FILE_NAME: &str = "hookgate.redb";

/// redb's page cache. Kept modest so memory stays flat however long the queues get:
/// the queues are on disk, and the pages a claim touches are few.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How long opening waits for the lock of a store this process is still closing.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// The least time between two attempts to reopen a broken database.
const REOPEN_EVERY: Duration = Duration::from_millis(100);

/// The database as every caller reaches it; see the module docs.
pub(super) struct Handle {
    file: PathBuf,
    /// `None` between closing a broken database and opening it again.
    current: RwLock<Option<Arc<Database>>>,
    broken: AtomicBool,
    last_reopen: Mutex<Option<Instant>>,
}

impl Handle {
    /// Opens (creating if missing) the store in the data directory `dir`, and returns
    /// the previous process's leases to their queues.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| {
            StoreError::unavailable(format!(
                "embedded store: creating data directory {}: {error}",
                dir.display()
            ))
        })?;
        let file = dir.join(FILE_NAME);
        let db = create(&file)?;
        let returned = writer::recover(&db)?;
        if returned > 0 {
            tracing::info!(
                leases = returned,
                "Returned the previous process's leases to their queues."
            );
        }
        Ok(Self::new(file, db))
    }

    /// A handle on `db`, opened from `file`.
    pub fn new(file: PathBuf, db: Database) -> Self {
        Self {
            file,
            current: RwLock::new(Some(Arc::new(db))),
            broken: AtomicBool::new(false),
            last_reopen: Mutex::new(None),
        }
    }

    /// The database to use now.
    pub fn current(&self) -> Result<Arc<Database>, StoreError> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError::unavailable("embedded store: reopening the database after a failed write")
            })
    }

    /// Whether a write failed since the database was last opened.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Marks the database as needing a reopen (a write failed).
    pub fn broke(&self) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                file = %self.file.display(),
                "The embedded store failed to write; it is reopened once it can be."
            );
        }
    }

    /// Closes the broken database and opens it again; on the writer's thread only,
    /// which is then the only one writing. Readers in flight finish on the old one.
    pub fn reopen(&self) -> Result<(), StoreError> {
        {
            let mut last = self.last_reopen.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < REOPEN_EVERY) {
                return Err(StoreError::unavailable(
                    "embedded store: the last write failed; reopening shortly",
                ));
            }
            *last = Some(Instant::now());
        }
        let old = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(old) = old {
            // The file lock goes with the last reference: wait for readers to drop
            // theirs (a read is short), then close.
            let deadline = Instant::now() + LOCK_WAIT;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        let db = create(&self.file)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(db));
        self.broken.store(false, Ordering::Release);
        tracing::info!(file = %self.file.display(), "The embedded store is open again.");
        Ok(())
    }
}

/// Opens (creating if missing) the database file, waiting briefly for a store of
/// this process that is still closing.
fn create(file: &Path) -> Result<Database, StoreError> {
    let started = Instant::now();
    loop {
        match Database::builder().set_cache_size(CACHE_BYTES).create(file) {
            Ok(db) => return Ok(db),
            Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)
                if started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch) => {
                return Err(StoreError::unavailable(format!(
                    "embedded store: data directory {} is in use by another hookgate process \
                     ({} is locked); stop it or give this one its own data directory",
                    file.parent().unwrap_or(file).display(),
                    file.display()
                )));
            }
            Err(error) => {
                return Err(StoreError::unavailable(format!(
                    "embedded store: opening {}: {error}",
                    file.display()
                )))
            }
        }
    }
}
