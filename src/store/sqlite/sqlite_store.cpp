#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "observe/metrics.h"

namespace skiff::store {
namespace {

struct Entry {
  int64_t createRevision = 0;
  int64_t modRevision = 0;
  Bytes value;
};

enum class OpKind { Create, Update, Remove };

struct PendingOp {
  OpKind kind;
  std::string key;
  int64_t expectedModRevision = 0;
  ValueBuilder build;
  std::promise<Result<KeyValue>> done;
};

// Owns one prepared statement; finalizes it on destruction.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  Statement(Statement&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
  Statement& operator=(Statement&& o) noexcept {
    std::swap(stmt_, o.stmt_);
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore;

class SqliteWatch final : public Watch {
 public:
  SqliteWatch(SqliteStore* store, uint64_t id) : store_(store), id_(id) {}
  ~SqliteWatch() override;

 private:
  SqliteStore* store_;
  uint64_t id_;
};

struct Watcher {
  std::string prefix;
  WatchCallback callback;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, SqliteOptions options) : db_(db), options_(std::move(options)) {}

  ~SqliteStore() override {
    {
      std::lock_guard lock(queueMutex_);
      stopping_ = true;
    }
    queueCv_.notify_all();
    if (committer_.joinable()) committer_.join();
    observe::unregisterCallbackGauge("skiff_store_revision");
    insert_ = Statement();
    erase_ = Statement();
    setRevision_ = Statement();
    sqlite3_close_v2(db_);
  }

  Status load() {
    const char* schema =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "PRAGMA cache_size=-4096;"
        "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, create_rev INTEGER NOT NULL,"
        " mod_rev INTEGER NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);";
    char* err = nullptr;
    if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Error::unavailable("cannot initialise store " + options_.path + ": " + msg +
                                " (if the file is damaged, restore it from a backup or move it away to start empty)");
    }
    {
      Statement rev(db_, "SELECT value FROM meta WHERE name='revision'");
      if (rev && sqlite3_step(rev.get()) == SQLITE_ROW) revision_ = sqlite3_column_int64(rev.get(), 0);
    }
    Statement all(db_, "SELECT key, create_rev, mod_rev, value FROM kv");
    if (!all) return Error::unavailable("cannot read store " + options_.path + ": " + sqlite3_errmsg(db_));
    int rc;
    while ((rc = sqlite3_step(all.get())) == SQLITE_ROW) {
      std::string key(reinterpret_cast<const char*>(sqlite3_column_text(all.get(), 0)),
                      sqlite3_column_bytes(all.get(), 0));
      Entry e;
      e.createRevision = sqlite3_column_int64(all.get(), 1);
      e.modRevision = sqlite3_column_int64(all.get(), 2);
      auto* blob = static_cast<const char*>(sqlite3_column_blob(all.get(), 3));
      e.value = std::make_shared<const std::string>(blob ? blob : "", sqlite3_column_bytes(all.get(), 3));
      revision_ = std::max<int64_t>(revision_, e.modRevision);
      index_.emplace(std::move(key), std::move(e));
    }
    if (rc != SQLITE_DONE)
      return Error::unavailable("store " + options_.path + " is unreadable (" + sqlite3_errmsg(db_) +
                                "); restore it from a backup or move it away to start empty");
    compactedRevision_ = revision_.load();
    progressRevision_ = revision_.load();
    insert_ = Statement(db_, "INSERT OR REPLACE INTO kv(key, create_rev, mod_rev, value) VALUES(?,?,?,?)");
    erase_ = Statement(db_, "DELETE FROM kv WHERE key=?");
    setRevision_ = Statement(db_, "INSERT OR REPLACE INTO meta(name, value) VALUES('revision', ?)");
    if (!insert_ || !erase_ || !setRevision_)
      return Error::unavailable("cannot prepare store statements: " + std::string(sqlite3_errmsg(db_)));
    committer_ = std::thread([this] { commitLoop(); });
    observe::registerCallbackGauge("skiff_store_revision", "Current revision of the store.", [this] { return double(revision_.load()); });
    return {};
  }

  Result<KeyValue> get(std::string_view key) override {
    std::shared_lock lock(indexMutex_);
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return Error::notFound(std::string(key) + " not found");
    return toKeyValue(it->first, it->second);
  }

  Result<RangeResult> range(std::string_view prefix, std::string_view startAfter, size_t limit) override {
    RangeResult out;
    std::shared_lock lock(indexMutex_);
    out.revision = revision_;
    auto it = startAfter.empty() ? index_.lower_bound(std::string(prefix))
                                 : index_.upper_bound(std::string(startAfter));
    for (; it != index_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (limit && out.items.size() == limit) {
        out.more = true;
        break;
      }
      out.items.push_back(toKeyValue(it->first, it->second));
    }
    return out;
  }

  Result<size_t> count(std::string_view prefix) override {
    std::shared_lock lock(indexMutex_);
    size_t n = 0;
    for (auto it = index_.lower_bound(std::string(prefix));
         it != index_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      ++n;
    return n;
  }

  Result<KeyValue> create(std::string key, ValueBuilder build) override {
    return submit(OpKind::Create, std::move(key), 0, std::move(build));
  }
  Result<KeyValue> update(std::string key, int64_t expected, ValueBuilder build) override {
    return submit(OpKind::Update, std::move(key), expected, std::move(build));
  }
  Result<KeyValue> remove(std::string key, int64_t expected) override {
    return submit(OpKind::Remove, std::move(key), expected, nullptr);
  }

  Result<std::unique_ptr<Watch>> watch(std::string prefix, int64_t afterRevision,
                                       WatchCallback callback) override {
    std::lock_guard lock(watchMutex_);
    if (afterRevision < compactedRevision_)
      return Error::gone("too old resource version: " + std::to_string(afterRevision) + " (" +
                         std::to_string(compactedRevision_) + ")");
    for (const Event& e : history_)
      if (e.revision > afterRevision && e.kv.key.compare(0, prefix.size(), prefix) == 0) callback(e);
    uint64_t id = nextWatchId_++;
    watchers_.emplace(id, Watcher{std::move(prefix), std::move(callback)});
    return std::unique_ptr<Watch>(std::make_unique<SqliteWatch>(this, id));
  }

  int64_t revision() override { return revision_; }
  int64_t progressRevision() override { return progressRevision_; }
  int64_t compactedRevision() override {
    std::lock_guard lock(watchMutex_);
    return compactedRevision_;
  }
  void compact(int64_t revision) override {
    std::lock_guard lock(watchMutex_);
    while (!history_.empty() && history_.front().revision <= revision) history_.pop_front();
    compactedRevision_ = std::max(compactedRevision_, std::min<int64_t>(revision, revision_));
  }

  void unwatch(uint64_t id) {
    std::lock_guard lock(watchMutex_);
    watchers_.erase(id);
  }

 private:
  static KeyValue toKeyValue(const std::string& key, const Entry& e) {
    return KeyValue{key, e.createRevision, e.modRevision, e.value};
  }

  Result<KeyValue> submit(OpKind kind, std::string key, int64_t expected, ValueBuilder build) {
    auto op = std::make_unique<PendingOp>();
    op->kind = kind;
    op->key = std::move(key);
    op->expectedModRevision = expected;
    op->build = std::move(build);
    auto future = op->done.get_future();
    bool wasEmpty;
    {
      std::lock_guard lock(queueMutex_);
      if (stopping_) return Error::unavailable("store is shutting down");
      wasEmpty = queue_.empty();
      queue_.push_back(std::move(op));
    }
    // The commit thread only sleeps on an empty queue; while it commits, writes just pile up.
    if (wasEmpty) queueCv_.notify_one();
    return future.get();
  }

  bool exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  bool writeRow(const std::string& key, const Entry& e) {
    sqlite3_stmt* s = insert_.get();
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key.data(), int(key.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, e.createRevision);
    sqlite3_bind_int64(s, 3, e.modRevision);
    sqlite3_bind_blob(s, 4, e.value->data(), int(e.value->size()), SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE;
  }
  bool eraseRow(const std::string& key) {
    sqlite3_stmt* s = erase_.get();
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key.data(), int(key.size()), SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE;
  }
  bool writeRevision(int64_t rev) {
    sqlite3_stmt* s = setRevision_.get();
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, rev);
    return sqlite3_step(s) == SQLITE_DONE;
  }

  void commitLoop() {
    for (;;) {
      std::vector<std::unique_ptr<PendingOp>> batch;
      {
        std::unique_lock lock(queueMutex_);
        queueCv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && batch.size() < options_.maxBatch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      commitBatch(batch);
    }
  }

  // Applies a batch in one transaction. The index is only changed after COMMIT succeeds, so
  // readers never see a write that might not survive a crash.
  void commitBatch(std::vector<std::unique_ptr<PendingOp>>& batch) {
    static observe::Family<observe::Histogram> commitLatency(
        "skiff_store_commit_duration_seconds", "Time to commit one batch of writes durably (SQLite transaction with fsync).", {});
    static observe::Family<observe::Histogram> batchSize("skiff_store_batch_writes", "Writes acknowledged by one commit (group commit).",
                                                         {}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
    static observe::Family<observe::Counter> writes("skiff_store_writes_total", "Writes committed to the store.", {});
    auto commitStart = std::chrono::steady_clock::now();
    std::unordered_map<std::string, std::optional<Entry>> overlay;  // nullopt = deleted
    std::vector<std::optional<Result<KeyValue>>> results(batch.size());
    std::vector<Event> events;
    int64_t rev = revision_;
    auto lookup = [&](const std::string& key) -> std::optional<Entry> {
      if (auto it = overlay.find(key); it != overlay.end()) return it->second;
      std::shared_lock lock(indexMutex_);
      if (auto it = index_.find(key); it != index_.end()) return it->second;
      return std::nullopt;
    };
    bool storageFailed = !exec("BEGIN IMMEDIATE");
    for (size_t i = 0; i < batch.size() && !storageFailed; ++i) {
      PendingOp& op = *batch[i];
      std::optional<Entry> current = lookup(op.key);
      if (op.kind == OpKind::Create && current) {
        results[i] = Error::alreadyExists(op.key + " already exists");
        continue;
      }
      if (op.kind != OpKind::Create) {
        if (!current) {
          results[i] = Error::notFound(op.key + " not found");
          continue;
        }
        if (op.expectedModRevision && current->modRevision != op.expectedModRevision) {
          results[i] = Error::conflict(op.key + " was modified (revision " +
                                       std::to_string(current->modRevision) + ", expected " +
                                       std::to_string(op.expectedModRevision) + ")");
          continue;
        }
      }
      int64_t newRev = rev + 1;
      Event ev;
      ev.revision = newRev;
      ev.previousValue = current ? current->value : nullptr;
      if (op.kind == OpKind::Remove) {
        if (!eraseRow(op.key)) {
          storageFailed = true;
          break;
        }
        ev.type = EventType::Delete;
        ev.kv = KeyValue{op.key, current->createRevision, newRev, current->value};
        overlay[op.key] = std::nullopt;
      } else {
        Entry e;
        e.createRevision = current ? current->createRevision : newRev;
        e.modRevision = newRev;
        try {
          e.value = std::make_shared<const std::string>(op.build(newRev));
        } catch (const std::exception& ex) {
          results[i] = Error::internal(std::string("building value failed: ") + ex.what());
          continue;
        }
        if (!writeRow(op.key, e)) {
          storageFailed = true;
          break;
        }
        ev.type = EventType::Put;
        ev.created = !current;
        ev.kv = toKeyValue(op.key, e);
        overlay[op.key] = std::move(e);
      }
      rev = newRev;
      results[i] = ev.kv;
      events.push_back(std::move(ev));
    }
    if (!storageFailed && rev != revision_) storageFailed = !writeRevision(rev);
    if (!storageFailed) storageFailed = !exec("COMMIT");
    if (storageFailed) {
      std::string why = sqlite3_errmsg(db_);
      exec("ROLLBACK");
      log::error("store", "commit failed on " + options_.path + ": " + why);
      for (size_t i = 0; i < batch.size(); ++i)
        batch[i]->done.set_value(Error::unavailable("store write failed on " + options_.path + ": " + why));
      return;
    }
    commitLatency.with({}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - commitStart).count());
    batchSize.with({}).observe(double(batch.size()));
    writes.with({}).inc(double(events.size()));
    {
      std::unique_lock lock(indexMutex_);
      for (auto& [key, entry] : overlay) {
        if (entry) index_[key] = std::move(*entry);
        else index_.erase(key);
      }
      revision_ = rev;
    }
    {
      std::lock_guard lock(watchMutex_);
      for (Event& ev : events) {
        for (auto& [id, w] : watchers_)
          if (ev.kv.key.compare(0, w.prefix.size(), w.prefix) == 0) w.callback(ev);
        history_.push_back(std::move(ev));
      }
      progressRevision_ = rev;
      while (history_.size() > options_.historyLimit) {
        compactedRevision_ = history_.front().revision;
        history_.pop_front();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(*results[i]));
  }

  sqlite3* db_;
  SqliteOptions options_;
  Statement insert_, erase_, setRevision_;

  std::shared_mutex indexMutex_;
  std::map<std::string, Entry, std::less<>> index_;
  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> progressRevision_{0};

  std::mutex queueMutex_;
  std::condition_variable queueCv_;
  std::deque<std::unique_ptr<PendingOp>> queue_;
  bool stopping_ = false;
  std::thread committer_;

  std::mutex watchMutex_;
  std::deque<Event> history_;
  int64_t compactedRevision_ = 0;
  std::map<uint64_t, Watcher> watchers_;
  uint64_t nextWatchId_ = 1;
};

SqliteWatch::~SqliteWatch() { store_->unwatch(id_); }

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Error::unavailable("cannot open store " + options.path + ": " + why +
                              " (check that the directory exists and is writable)");
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteStore>(db, options);
  if (Status s = store->load(); !s) return s.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace skiff::store
