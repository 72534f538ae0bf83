// SQLite backend for Store: the embedded store of `skiff up`.
//
// The latest value of every key lives in memory (an ordered map sharing value buffers with the
// watch history), so reads never touch disk. SQLite holds the durable copy in WAL mode with
// synchronous=FULL. A single commit thread takes every write waiting at that moment and commits
// them in one transaction (group commit): one fsync acknowledges many parallel writers.
#pragma once
#include <memory>
#include <string>

#include "store/store.h"

namespace skiff::store {

struct SqliteOptions {
  std::string path;               // database file
  // Watch events retained in memory. Each pins the object version it carries, so this bounds
  // memory; a watcher further behind gets 410 and relists, as with Kubernetes' watch cache.
  size_t historyLimit = 10000;
  size_t maxBatch = 1024;         // writes per transaction
};

// Opens (creating if needed) the database and loads it. Errors say which file and why.
Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options);

}  // namespace skiff::store
