#include "store/etcd/etcd_store.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <variant>

#include "common/log.h"
#include "observe/metrics.h"
#include "store/etcd/etcd_connection.h"
#include "store/etcd/event_history.h"

namespace skiff::store::etcd {
namespace {

constexpr int kMaxRounds = 64;      // a write's tries while other servers keep moving the revision
constexpr int kMaxRewrites = 3;     // rewrites of a value a foreign writer gave the wrong revision
constexpr auto kRetryPause = std::chrono::milliseconds(50);

enum class WriteKind { Create, Update, Remove };

std::string randomHex(size_t n) {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += hex[rd() % 16];
  return s;
}

pb::Compare compare(const std::string& key, pb::Compare::CompareTarget target, pb::Compare::CompareResult result, int64_t value) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(result);
  switch (target) {
    case pb::Compare::VERSION: c.set_version(value); break;
    case pb::Compare::CREATE: c.set_create_revision(value); break;
    default: c.set_mod_revision(value); break;
  }
  return c;
}

void addRange(google::protobuf::RepeatedPtrField<pb::RequestOp>* ops, const std::string& key) {
  ops->Add()->mutable_request_range()->set_key(key);
}

// The key's state read by the failure branch of a write (absent: no entries).
const pb::KeyValue* firstKv(const pb::ResponseOp& op) {
  const auto& kvs = op.response_range().kvs();
  return kvs.empty() ? nullptr : &kvs[0];
}

// A transaction applied: its revision, and the written key's entry before it (when it had one).
struct Applied {
  int64_t revision = 0;
  std::optional<pb::KeyValue> prior;
};
// Its compares failed: the failure branch's reads, the sentinel's last.
struct Refused {
  pb::TxnResponse response;
};
using Outcome = std::variant<Applied, Refused>;

class EtcdStore final : public Store {
 public:
  EtcdStore(EtcdOptions options)
      : options_(std::move(options)),
        connection_(options_.endpoints),
        dataPrefix_(options_.prefix + "/data"),
        sentinelKey_(options_.prefix + "/meta/revision"),
        compactionKey_(options_.prefix + "/meta/compaction"),
        instanceId_(randomHex(16)) {}

  ~EtcdStore() override {
    {
      std::lock_guard lock(stopMutex_);
      stopping_ = true;
      if (streamContext_) streamContext_->TryCancel();
    }
    stopCv_.notify_all();
    if (stream_.joinable()) stream_.join();
    if (compactor_.joinable()) compactor_.join();
    observe::unregisterCallbackGauge("skiff_store_revision");
  }

  Status start();

  Result<KeyValue> get(std::string_view key) override {
    pb::RangeRequest req;
    req.set_key(dataPrefix_ + std::string(key));
    pb::RangeResponse resp;
    if (Status s = read(req, resp, "read " + std::string(key)); !s) return s.error();
    if (resp.kvs().empty()) return Error::notFound(std::string(key) + " not found");
    return toKeyValue(resp.kvs(0));
  }

  Result<RangeResult> range(std::string_view prefix, std::string_view startAfter, size_t limit) override {
    pb::RangeRequest req;
    std::string from = dataPrefix_ + std::string(prefix);
    req.set_range_end(prefixEnd(from));
    // The first key after startAfter is startAfter with a zero byte appended.
    req.set_key(startAfter.empty() ? from : dataPrefix_ + std::string(startAfter) + std::string(1, '\0'));
    req.set_limit(int64_t(limit));
    pb::RangeResponse resp;
    if (Status s = read(req, resp, "list " + std::string(prefix)); !s) return s.error();
    RangeResult out;
    out.revision = resp.header().revision();
    out.more = resp.more();
    out.items.reserve(resp.kvs_size());
    for (const pb::KeyValue& kv : resp.kvs()) out.items.push_back(toKeyValue(kv));
    return out;
  }

  Result<size_t> count(std::string_view prefix) override {
    pb::RangeRequest req;
    std::string from = dataPrefix_ + std::string(prefix);
    req.set_key(from);
    req.set_range_end(prefixEnd(from));
    req.set_count_only(true);
    pb::RangeResponse resp;
    if (Status s = read(req, resp, "count " + std::string(prefix)); !s) return s.error();
    return size_t(resp.count());
  }

  Result<KeyValue> create(std::string key, ValueBuilder build) override {
    return write(WriteKind::Create, std::move(key), 0, build);
  }
  Result<KeyValue> update(std::string key, int64_t expected, ValueBuilder build) override {
    return write(WriteKind::Update, std::move(key), expected, build);
  }
  Result<KeyValue> remove(std::string key, int64_t expected) override {
    return write(WriteKind::Remove, std::move(key), expected, nullptr);
  }

  Result<std::unique_ptr<Watch>> watch(std::string prefix, int64_t afterRevision, WatchCallback callback) override {
    return history_->watch(std::move(prefix), afterRevision, std::move(callback));
  }

  int64_t revision() override { return revision_.load(); }
  int64_t progressRevision() override { return history_->progressRevision(); }
  int64_t compactedRevision() override { return history_->compactedRevision(); }

  void compact(int64_t revision) override {
    revision = std::min(revision, revision_.load());
    if (revision <= 0) return;
    pb::CompactionRequest req;
    req.set_revision(revision);
    pb::CompactionResponse resp;
    grpc::Status st = connection_.call(&pb::KV::Stub::Compact, req, &resp, Clock::now() + options_.callTimeout);
    // OUT_OF_RANGE: etcd is compacted past it already (another server did it).
    if (!st.ok() && st.error_code() != grpc::StatusCode::OUT_OF_RANGE) {
      log::warn("store", connection_.error(st, "compact to revision " + std::to_string(revision)).message);
    }
    history_->compact(revision);
  }

 private:
  KeyValue toKeyValue(const pb::KeyValue& kv) const {
    return KeyValue{kv.key().substr(dataPrefix_.size()), kv.create_revision(), kv.mod_revision(),
                    std::make_shared<const std::string>(kv.value())};
  }

  void noteRevision(int64_t revision) {
    int64_t seen = revision_.load();
    while (revision > seen && !revision_.compare_exchange_weak(seen, revision)) {
    }
  }

  bool stopping() {
    std::lock_guard lock(stopMutex_);
    return stopping_;
  }

  // A read, retried on another member while the deadline allows when a member fails.
  Status read(const pb::RangeRequest& req, pb::RangeResponse& resp, const std::string& doing) {
    auto deadline = Clock::now() + options_.callTimeout;
    for (;;) {
      grpc::Status st = connection_.call(&pb::KV::Stub::Range, req, &resp, deadline);
      if (st.ok()) {
        noteRevision(resp.header().revision());
        return {};
      }
      if (!EtcdConnection::outcomeUnknown(st) || Clock::now() + kRetryPause >= deadline) return connection_.error(st, doing);
      std::this_thread::sleep_for(kRetryPause);
    }
  }

  Result<KeyValue> write(WriteKind kind, std::string key, int64_t expected, const ValueBuilder& build);
  Result<Outcome> commit(pb::TxnRequest txn, const std::string& key, Clock::time_point deadline);
  Result<std::optional<Applied>> appliedEarlier(int64_t base, const std::string& writeId, const pb::KeyValue* sentinelNow,
                                                const std::string& key, Clock::time_point deadline);
  Result<std::optional<pb::KeyValue>> readAt(const std::string& key, int64_t revision, Clock::time_point deadline);
  Status readSentinel(Clock::time_point deadline, int64_t* headerRevision = nullptr);
  Status touchSentinel(Clock::time_point deadline);
  void noticeForeignWriter(int64_t base, int64_t landed, const std::string& key);

  void streamLoop(int64_t startRevision);
  int64_t deliver(const pb::WatchResponse& resp, int64_t next);
  Event toEvent(const pb::Event& e) const;
  void compactLoop();
  void compactOnce(int64_t& keyVersion, int64_t& lastRevision);

  EtcdOptions options_;
  EtcdConnection connection_;
  const std::string dataPrefix_, sentinelKey_, compactionKey_;
  const std::string instanceId_;  // tells this process's sentinel writes from others'
  std::atomic<int64_t> revision_{0};
  std::shared_ptr<EventHistory> history_;

  // Writes, one at a time. sentinelRevision_ is the sentinel's mod_revision as last seen: the
  // store's revision when nothing but skiff writes to etcd.
  std::mutex writeMutex_;
  int64_t sentinelRevision_ = 0;
  bool sentinelKnown_ = false;
  uint64_t writeSeq_ = 0;
  grpc::Status lastFailure_;  // why the sentinel could not be read, for the start's message

  std::mutex stopMutex_;
  std::condition_variable stopCv_;
  bool stopping_ = false;
  grpc::ClientContext* streamContext_ = nullptr;
  std::thread stream_;
  std::thread::id streamThread_;
  std::thread compactor_;
};

// ---- writes ---------------------------------------------------------------------------------

Result<KeyValue> EtcdStore::write(WriteKind kind, std::string key, int64_t expected, const ValueBuilder& build) {
  const std::string etcdKey = dataPrefix_ + key;
  std::optional<KeyValue> written;  // set once applied; later rounds only fix its value's revision
  int64_t landed = 0;
  {
    std::lock_guard lock(writeMutex_);
    auto deadline = Clock::now() + 3 * options_.callTimeout;
    int rewrites = 0;
    for (int round = 0; round < kMaxRounds; ++round) {
      if (!sentinelKnown_)
        if (Status s = readSentinel(deadline); !s) return s.error();
      const int64_t base = sentinelRevision_;
      std::string value;
      if (kind != WriteKind::Remove) {
        try {
          value = build(base + 1);
        } catch (const std::exception& ex) {
          return Error::internal(std::string("building value failed: ") + ex.what());
        }
      }
      // The key's own condition, then the write; the failure branch reads the key to tell why.
      pb::TxnRequest txn;
      if (kind == WriteKind::Create)
        *txn.add_compare() = compare(etcdKey, pb::Compare::CREATE, pb::Compare::EQUAL, 0);
      else if (expected)
        *txn.add_compare() = compare(etcdKey, pb::Compare::MOD, pb::Compare::EQUAL, expected);
      else
        *txn.add_compare() = compare(etcdKey, pb::Compare::VERSION, pb::Compare::GREATER, 0);
      if (kind == WriteKind::Remove) {
        auto* del = txn.add_success()->mutable_request_delete_range();
        del->set_key(etcdKey);
        del->set_prev_kv(true);
      } else {
        auto* put = txn.add_success()->mutable_request_put();
        put->set_key(etcdKey);
        put->set_value(value);
        put->set_prev_kv(true);
      }
      addRange(txn.mutable_failure(), etcdKey);
      auto outcome = commit(std::move(txn), etcdKey, deadline);
      if (!outcome) {
        if (written) break;  // the write stands; only its revision could not be fixed
        return outcome.error();
      }
      if (auto* refused = std::get_if<Refused>(&*outcome)) {
        if (written) break;  // the key changed again since: whoever changed it wrote a good value
        const pb::KeyValue* current = firstKv(refused->response.responses(0));
        if (kind == WriteKind::Create && current) return Error::alreadyExists(key + " already exists");
        if (kind != WriteKind::Create && !current) return Error::notFound(key + " not found");
        if (kind != WriteKind::Create && expected && current->mod_revision() != expected)
          return Error::conflict(key + " was modified (revision " + std::to_string(current->mod_revision()) + ", expected " +
                                 std::to_string(expected) + ")");
        continue;  // only the revision moved (another server wrote): build again on the new one
      }
      const Applied& applied = std::get<Applied>(*outcome);
      landed = applied.revision;
      if (!written) {
        int64_t created = kind == WriteKind::Create ? landed : applied.prior ? applied.prior->create_revision() : 0;
        Bytes bytes = kind == WriteKind::Remove
                          ? std::make_shared<const std::string>(applied.prior ? applied.prior->value() : std::string())
                          : std::make_shared<const std::string>(std::move(value));
        written = KeyValue{key, created, landed, bytes};
      } else {
        written->modRevision = landed;
        written->value = std::make_shared<const std::string>(std::move(value));
      }
      if (landed == base + 1) break;
      // Something outside skiff wrote to etcd in between: the value names the wrong revision.
      noticeForeignWriter(base, landed, key);
      if (kind == WriteKind::Remove || ++rewrites > kMaxRewrites) break;
      kind = WriteKind::Update;
      expected = landed;
    }
    if (!written) return Error::unavailable("etcd at " + connection_.endpoints() + ": " + key + " kept changing; try again");
  }
  // The write returns once the local watches have it, as with SQLite, so a controller reading
  // its informer after a write sees that write. (Not from the stream's own thread: it would wait
  // for itself.)
  if (std::this_thread::get_id() != streamThread_ && !history_->waitForProgress(landed, options_.callTimeout))
    log::warn("store", "the etcd watch stream has not delivered revision " + std::to_string(landed) + " within " +
                           std::to_string(options_.callTimeout.count()) + " ms; watches lag behind etcd");
  return std::move(*written);
}

// Sends `txn` with the sentinel's compare and put added, trying again while its outcome is
// unknown. Sending the same transaction twice is safe: both copies require the sentinel at the
// same revision, so at most one applies. Once the sentinel has moved on, the copy that applied
// (if any) is found by reading the sentinel as it was right after `base`.
Result<Outcome> EtcdStore::commit(pb::TxnRequest txn, const std::string& key, Clock::time_point deadline) {
  const int64_t base = sentinelRevision_;
  const std::string writeId = instanceId_ + ":" + std::to_string(++writeSeq_);
  *txn.add_compare() = compare(sentinelKey_, pb::Compare::MOD, pb::Compare::EQUAL, base);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(sentinelKey_);
  put->set_value(writeId);
  addRange(txn.mutable_failure(), sentinelKey_);
  bool maybeSent = false;
  grpc::Status last;
  while (Clock::now() < deadline && !stopping()) {
    pb::TxnResponse resp;
    last = connection_.call(&pb::KV::Stub::Txn, txn, &resp, std::min(deadline, Clock::now() + options_.callTimeout));
    if (!last.ok()) {
      if (!EtcdConnection::outcomeUnknown(last)) return connection_.error(last, "write " + key);
      maybeSent = true;
      std::this_thread::sleep_for(kRetryPause);
      continue;
    }
    noteRevision(resp.header().revision());
    if (resp.succeeded()) {
      sentinelRevision_ = resp.header().revision();
      sentinelKnown_ = true;
      Applied applied{resp.header().revision(), std::nullopt};
      const pb::ResponseOp& op = resp.responses(0);
      if (op.has_response_put() && op.response_put().has_prev_kv()) applied.prior = op.response_put().prev_kv();
      if (op.has_response_delete_range() && !op.response_delete_range().prev_kvs().empty())
        applied.prior = op.response_delete_range().prev_kvs(0);
      return Outcome(std::move(applied));
    }
    const pb::KeyValue* sentinel = firstKv(resp.responses(resp.responses_size() - 1));
    sentinelRevision_ = sentinel ? sentinel->mod_revision() : 0;
    sentinelKnown_ = true;
    if (maybeSent && sentinelRevision_ != base) {
      auto earlier = appliedEarlier(base, writeId, sentinel, key, deadline);
      if (!earlier) {
        sentinelKnown_ = false;
        return earlier.error();
      }
      if (*earlier) return Outcome(std::move(**earlier));
    }
    return Outcome(Refused{std::move(resp)});
  }
  sentinelKnown_ = false;
  if (!maybeSent) return Error::unavailable("etcd at " + connection_.endpoints() + ": the store is shutting down");
  return Error::unavailable("etcd at " + connection_.endpoints() + " did not confirm the write of " + key + " (" +
                            last.error_message() + "); it may or may not have been applied — read it back");
}

// Whether a copy of the write `writeId`, sent on top of `base`, applied before the sentinel moved.
Result<std::optional<Applied>> EtcdStore::appliedEarlier(int64_t base, const std::string& writeId, const pb::KeyValue* sentinelNow,
                                                         const std::string& key, Clock::time_point deadline) {
  int64_t at = 0;
  if (sentinelNow && sentinelNow->value() == writeId) {
    at = sentinelNow->mod_revision();  // nothing skiff wrote since (even if foreign writes did)
  } else {
    // Without foreign writers a copy could only land at base+1.
    auto then = readAt(sentinelKey_, base + 1, deadline);
    if (!then) return then.error();
    if (*then && (*then)->mod_revision() == base + 1 && (*then)->value() == writeId) at = base + 1;
  }
  if (!at) return std::optional<Applied>();
  Applied applied{at, std::nullopt};
  if (!key.empty()) {
    auto prior = readAt(key, at - 1, deadline);
    if (!prior) return prior.error();
    applied.prior = std::move(*prior);
  }
  return std::optional<Applied>(std::move(applied));
}

// `key` as it was at `revision` (nullopt: absent then).
Result<std::optional<pb::KeyValue>> EtcdStore::readAt(const std::string& key, int64_t revision, Clock::time_point deadline) {
  pb::RangeRequest req;
  req.set_key(key);
  req.set_revision(revision);
  for (;;) {
    pb::RangeResponse resp;
    grpc::Status st = connection_.call(&pb::KV::Stub::Range, req, &resp, deadline);
    if (st.ok()) return resp.kvs().empty() ? std::optional<pb::KeyValue>() : std::optional<pb::KeyValue>(resp.kvs(0));
    if (!EtcdConnection::outcomeUnknown(st) || Clock::now() + kRetryPause >= deadline)
      return connection_.error(st, "tell whether a write whose answer was lost applied (reading " + key + " at revision " +
                                       std::to_string(revision) + ")");
    std::this_thread::sleep_for(kRetryPause);
  }
}

Status EtcdStore::readSentinel(Clock::time_point deadline, int64_t* headerRevision) {
  pb::RangeRequest req;
  req.set_key(sentinelKey_);
  for (;;) {
    pb::RangeResponse resp;
    grpc::Status st = connection_.call(&pb::KV::Stub::Range, req, &resp, deadline);
    if (st.ok()) {
      noteRevision(resp.header().revision());
      sentinelRevision_ = resp.kvs().empty() ? 0 : resp.kvs(0).mod_revision();
      sentinelKnown_ = true;
      if (headerRevision) *headerRevision = resp.header().revision();
      return {};
    }
    if (!EtcdConnection::outcomeUnknown(st) || Clock::now() + kRetryPause >= deadline) {
      lastFailure_ = st;
      return connection_.error(st, "read the store's revision");
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

// Brings the sentinel up to etcd's revision, so the next write's revision is knowable again.
Status EtcdStore::touchSentinel(Clock::time_point deadline) {
  for (int round = 0; round < kMaxRounds; ++round) {
    auto outcome = commit(pb::TxnRequest(), "", deadline);
    if (!outcome) return outcome.error();
    if (std::holds_alternative<Applied>(*outcome)) return {};
  }
  return Error::unavailable("etcd at " + connection_.endpoints() + ": the store's revision kept moving");
}

void EtcdStore::noticeForeignWriter(int64_t base, int64_t landed, const std::string& key) {
  static observe::Family<observe::Counter> foreign(
      "skiff_store_foreign_writes_total", "Writes that found etcd's revision moved by a client other than skiff.", {});
  foreign.with({}).inc();
  log::error("store", "etcd at " + connection_.endpoints() + " moved from revision " + std::to_string(base) + " to " +
                          std::to_string(landed - 1) + " without skiff: another client writes to this etcd (outside " +
                          options_.prefix + "/, or a skiff of another cluster). skiff needs its etcd to itself, as " +
                          "kube-apiserver does; writing " + key + " again so its resourceVersion is right");
}

// ---- start --------------------------------------------------------------------------------

Status EtcdStore::start() {
  int64_t header = 0;
  {
    std::lock_guard lock(writeMutex_);
    if (Status s = readSentinel(Clock::now() + options_.callTimeout, &header); !s)
      return Error::unavailable("cannot reach etcd at " + connection_.endpoints() + ": " + lastFailure_.error_message() +
                                "; is it running? (--store etcd://HOST:PORT,... names the members' client URLs)");
    if (sentinelRevision_ != header) {
      if (sentinelRevision_ == 0 && header > 1)
        log::warn("store", "etcd at " + connection_.endpoints() + " already holds other data (revision " + std::to_string(header) +
                               ") and nothing of skiff's under " + options_.prefix + "/; skiff needs an etcd of its own");
      else if (sentinelRevision_ > 0)
        log::warn("store", "etcd at " + connection_.endpoints() + " moved from revision " + std::to_string(sentinelRevision_) +
                               " (skiff's last write) to " + std::to_string(header) +
                               " without skiff: another client writes to it; skiff needs its etcd to itself");
      if (Status s = touchSentinel(Clock::now() + options_.callTimeout); !s) return s.error();
    }
  }
  // The stream starts a history's worth of revisions back, so a client failing over from another
  // server can resume its watch here.
  int64_t current = revision_.load();
  int64_t startRevision = std::max<int64_t>(current - int64_t(options_.historyLimit), 1);
  history_ = std::make_shared<EventHistory>(options_.historyLimit, startRevision - 1);
  stream_ = std::thread([this, startRevision] { streamLoop(startRevision); });
  streamThread_ = stream_.get_id();
  int64_t target;
  {
    std::lock_guard lock(writeMutex_);
    target = sentinelRevision_;
  }
  if (!history_->waitForProgress(target, 2 * options_.callTimeout))
    log::warn("store", "the etcd watch stream has not caught up with revision " + std::to_string(target) + " yet");
  if (options_.compactInterval.count() > 0) compactor_ = std::thread([this] { compactLoop(); });
  observe::registerCallbackGauge("skiff_store_revision", "Current revision of the store.", [this] { return double(revision_.load()); });
  return {};
}

// ---- the watch stream ---------------------------------------------------------------------

void EtcdStore::streamLoop(int64_t next) {
  bool delivered = false;  // before the first catch-up, nothing older was promised to anyone
  bool broken = false;     // said once per outage, not at every retry
  auto backoff = std::chrono::milliseconds(100);
  auto lost = [&](const std::string& why) {
    if (!broken) log::warn("store", "etcd watch stream (" + connection_.endpoints() + "): " + why + "; resuming at revision " + std::to_string(next));
    else log::debug("store", "etcd watch stream: " + why);
    broken = true;
  };
  const std::string root = options_.prefix + "/";
  while (!stopping()) {
    size_t member = connection_.current();
    if (grpc::Status st = connection_.connect(member, Clock::now() + options_.callTimeout); !st.ok()) {
      lost(st.error_message());
      continue;  // connect() waited; the next member is tried at once
    }
    grpc::ClientContext ctx;
    EtcdConnection::prepare(ctx, std::nullopt);
    {
      std::lock_guard lock(stopMutex_);
      if (stopping_) break;
      streamContext_ = &ctx;
    }
    auto stream = connection_.watch(member).Watch(&ctx);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(root);
    create->set_range_end(prefixEnd(root));
    create->set_start_revision(next);
    create->set_prev_kv(true);
    create->set_progress_notify(true);
    std::string why;
    bool compactedStart = false;  // the start revision was compacted: start again at etcd's oldest
    if (stream->Write(req)) {
      pb::WatchResponse resp;
      while (stream->Read(&resp)) {
        if (resp.canceled()) {
          if (resp.compact_revision() > 0) {
            // etcd no longer has revisions this stream has not seen: the history restarts at the
            // oldest it has.
            int64_t oldest = resp.compact_revision();
            if (delivered)
              log::error("store", "etcd compacted revisions " + std::to_string(next) + " to " + std::to_string(oldest - 1) +
                                      " before this server's watch stream saw them; watches started before now miss them");
            history_->restartAfter(oldest - 1);
            next = oldest;
            compactedStart = true;
          } else {
            why = "etcd ended the watch: " + resp.cancel_reason();
          }
          break;
        }
        if (resp.created()) {
          backoff = std::chrono::milliseconds(100);
          if (broken) log::info("store", "etcd watch stream resumed at revision " + std::to_string(next));
          broken = false;
          continue;
        }
        next = deliver(resp, next);
        delivered = true;
      }
    }
    ctx.TryCancel();
    grpc::Status st = stream->Finish();
    {
      std::lock_guard lock(stopMutex_);
      streamContext_ = nullptr;
    }
    if (stopping()) break;
    if (compactedStart) continue;
    if (why.empty()) {
      connection_.failed(member, st);
      why = st.error_message().empty() ? "stream closed" : st.error_message();
    }
    lost(why);
    std::unique_lock lock(stopMutex_);
    stopCv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

// Hands one response's events to the history; returns the next revision the stream must deliver.
int64_t EtcdStore::deliver(const pb::WatchResponse& resp, int64_t next) {
  std::vector<Event> events;
  int64_t last = next - 1;
  for (const pb::Event& e : resp.events()) {
    int64_t revision = e.kv().mod_revision();
    if (revision < next) continue;  // delivered before a reconnect
    last = std::max(last, revision);
    if (!e.kv().key().starts_with(dataPrefix_)) continue;  // skiff's own keys only mark progress
    events.push_back(toEvent(e));
  }
  // A response without events is a progress notification: nothing up to its revision is pending.
  if (resp.events().empty()) last = std::max(last, resp.header().revision());
  noteRevision(last);
  history_->append(std::move(events), last);
  return last + 1;
}

Event EtcdStore::toEvent(const pb::Event& e) const {
  Event ev;
  ev.revision = e.kv().mod_revision();
  std::string key = e.kv().key().substr(dataPrefix_.size());
  Bytes previous = e.has_prev_kv() ? std::make_shared<const std::string>(e.prev_kv().value()) : nullptr;
  ev.previousValue = previous;
  if (e.type() == pb::Event::PUT) {
    ev.type = EventType::Put;
    ev.created = e.kv().create_revision() == e.kv().mod_revision();
    ev.kv = KeyValue{std::move(key), e.kv().create_revision(), e.kv().mod_revision(), std::make_shared<const std::string>(e.kv().value())};
  } else {
    ev.type = EventType::Delete;
    if (!previous) log::warn("store", "etcd delivered the deletion of " + key + " without its last value (compacted)");
    ev.kv = KeyValue{std::move(key), e.has_prev_kv() ? e.prev_kv().create_revision() : 0, ev.revision,
                     previous ? previous : std::make_shared<const std::string>()};
  }
  return ev;
}

// ---- compaction ---------------------------------------------------------------------------

// kube-apiserver's scheme: each interval every server tries to bump the compaction key's version
// from the one it last saw; the one that succeeds compacts to the revision it saw an interval
// ago, so etcd keeps at least one interval of history and one server compacts per interval.
void EtcdStore::compactLoop() {
  int64_t keyVersion = 0, lastRevision = 0;
  for (;;) {
    {
      std::unique_lock lock(stopMutex_);
      if (stopCv_.wait_for(lock, options_.compactInterval, [&] { return stopping_; })) return;
    }
    compactOnce(keyVersion, lastRevision);
  }
}

void EtcdStore::compactOnce(int64_t& keyVersion, int64_t& lastRevision) {
  int64_t compactTo = 0;
  {
    std::lock_guard lock(writeMutex_);
    auto deadline = Clock::now() + options_.callTimeout;
    for (int round = 0;; ++round) {
      if (!sentinelKnown_)
        if (Status s = readSentinel(deadline); !s) return log::warn("store", "compaction skipped: " + s.error().message);
      pb::TxnRequest txn;
      *txn.add_compare() = compare(compactionKey_, pb::Compare::VERSION, pb::Compare::EQUAL, keyVersion);
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(compactionKey_);
      put->set_value(std::to_string(sentinelRevision_ + 1));
      addRange(txn.mutable_failure(), compactionKey_);
      auto outcome = commit(std::move(txn), "", deadline);
      if (!outcome) return log::warn("store", "compaction skipped: " + outcome.error().message);
      if (auto* applied = std::get_if<Applied>(&*outcome)) {
        ++keyVersion;
        compactTo = lastRevision;
        lastRevision = applied->revision;
        break;
      }
      const pb::TxnResponse& failed = std::get<Refused>(*outcome).response;
      const pb::KeyValue* key = firstKv(failed.responses(0));
      int64_t version = key ? key->version() : 0;
      // Only the revision moved (other writes): try again on it.
      if (version == keyVersion && round < kMaxRounds) continue;
      // Another server compacted this interval: follow its count, and compact next time (if
      // this server wins then) to the revision of now.
      keyVersion = version;
      lastRevision = failed.header().revision();
      return;
    }
  }
  if (compactTo > 0) {
    log::info("store", "compacting etcd to revision " + std::to_string(compactTo));
    compact(compactTo);
  }
}

}  // namespace

}  // namespace skiff::store::etcd

namespace skiff::store {

Result<EtcdOptions> parseEtcdUrl(std::string_view url) {
  const std::string usage = " (--store takes etcd://HOST:PORT[,HOST:PORT...][/PREFIX])";
  constexpr std::string_view scheme = "etcd://";
  if (!url.starts_with(scheme)) return Error::badRequest("\"" + std::string(url) + "\" is not an etcd URL" + usage);
  std::string_view rest = url.substr(scheme.size());
  EtcdOptions options;
  std::string_view hosts = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hosts = rest.substr(0, slash);
    std::string prefix(rest.substr(slash));
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix == "/") return Error::badRequest("etcd URL " + std::string(url) + ": the key prefix must not be empty" + usage);
    options.prefix = prefix;
  }
  for (size_t start = 0; start <= hosts.size();) {
    size_t comma = hosts.find(',', start);
    std::string host(hosts.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? hosts.size() + 1 : comma + 1;
    if (host.empty()) continue;
    // [v6]:port, host:port, or a bare host on etcd's client port.
    size_t colon = host.rfind(':');
    bool hasPort = colon != std::string::npos && (host[0] != '[' || host.find(']') < colon);
    if (hasPort) {
      std::string port = host.substr(colon + 1);
      char* end = nullptr;
      long n = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end || n < 1 || n > 65535)
        return Error::badRequest("etcd URL " + std::string(url) + ": \"" + host + "\" has no valid port" + usage);
    } else {
      host += ":2379";
    }
    if (host[0] == ':') return Error::badRequest("etcd URL " + std::string(url) + ": an endpoint has no host" + usage);
    options.endpoints.push_back(host);
  }
  if (options.endpoints.empty()) return Error::badRequest("etcd URL " + std::string(url) + " names no endpoint" + usage);
  return options;
}

Result<std::unique_ptr<Store>> openEtcdStore(const EtcdOptions& options) {
  if (options.endpoints.empty()) return Error::badRequest("no etcd endpoints given");
  auto store = std::make_unique<etcd::EtcdStore>(options);
  if (Status s = store->start(); !s) return s.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace skiff::store
