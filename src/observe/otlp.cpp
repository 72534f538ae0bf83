#include "observe/otlp.h"

#include <boost/json.hpp>
#include <random>

#include "common/log.h"
#include "http/http.h"
#include "observe/metrics.h"

namespace skiff::observe {
namespace json = boost::json;
namespace {

constexpr size_t kMaxQueued = 10000;
constexpr size_t kBatch = 512;

Counter& spansCounter(const char* result) {
  static Family<Counter> f("skiff_otlp_spans_total", "Spans handed to the OTLP exporter, by result (sent, dropped, failed).", {"result"});
  return f.with({result});
}

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::optional<TraceContext> parseTraceparent(std::string_view v) {
  if (v.size() < 55 || v.substr(0, 3) != "00-" || v[35] != '-' || v[52] != '-' || (v.size() > 55 && v[55] != '-')) return std::nullopt;
  TraceContext t{std::string(v.substr(3, 32)), std::string(v.substr(36, 16)), std::string(v.substr(53, 2))};
  if (!isLowerHex(t.traceId) || !isLowerHex(t.parentId) || !isLowerHex(t.flags) || t.traceId == std::string(32, '0') ||
      t.parentId == std::string(16, '0'))
    return std::nullopt;
  return t;
}

std::string randomHexId(int bytes) {
  thread_local uint64_t state = std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(size_t(bytes) * 2);
  while (int(out.size()) < bytes * 2) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int i = 0; i < 16 && int(out.size()) < bytes * 2; ++i, z >>= 4) out += hex[z & 15];
  }
  if (out.find_first_not_of('0') == std::string::npos) out.back() = '1';
  return out;
}

std::string encodeOtlpJson(const std::vector<Span>& spans, const std::string& service, const std::string& scope) {
  json::array out;
  for (const auto& s : spans) {
    json::array attrs;
    for (const auto& [k, v] : s.attributes) attrs.push_back(json::object{{"key", k}, {"value", json::object{{"stringValue", v}}}});
    for (const auto& [k, v] : s.intAttributes) attrs.push_back(json::object{{"key", k}, {"value", json::object{{"intValue", std::to_string(v)}}}});
    json::object span{{"traceId", s.traceId},
                      {"spanId", s.spanId},
                      {"name", s.name},
                      {"kind", s.kind},
                      {"startTimeUnixNano", std::to_string(s.startUnixNanos)},
                      {"endTimeUnixNano", std::to_string(s.endUnixNanos)},
                      {"attributes", attrs},
                      {"status", json::object{{"code", s.error ? 2 : 1}}}};
    if (!s.parentSpanId.empty()) span["parentSpanId"] = s.parentSpanId;
    out.push_back(std::move(span));
  }
  json::object body{
      {"resourceSpans",
       json::array{json::object{{"resource", json::object{{"attributes", json::array{json::object{{"key", "service.name"}, {"value", json::object{{"stringValue", service}}}}}}}},
                                {"scopeSpans", json::array{json::object{{"scope", json::object{{"name", scope}}}, {"spans", out}}}}}}}};
  return json::serialize(body);
}

Result<std::unique_ptr<SpanExporter>> SpanExporter::create(const std::string& endpoint, std::string service) {
  std::string rest = endpoint;
  if (rest.starts_with("https://")) return Error::badRequest("--otlp-endpoint: only http:// collectors are supported so far, not " + endpoint);
  if (rest.starts_with("http://")) rest = rest.substr(7);
  std::string path = "/v1/traces";
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (slash + 1 < rest.size()) path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  auto hp = http::parseHostPort(rest, 4318);
  if (!hp) return Error::badRequest("--otlp-endpoint " + endpoint + ": " + hp.error().message);
  std::unique_ptr<SpanExporter> e(new SpanExporter());
  e->host_ = hp->first;
  e->port_ = hp->second;
  e->path_ = path;
  e->service_ = std::move(service);
  e->thread_ = std::thread([p = e.get()] { p->loop(); });
  return e;
}

SpanExporter::~SpanExporter() { stop(); }

void SpanExporter::record(Span span) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= kMaxQueued) {
    spansCounter("dropped").inc();
    return;
  }
  queue_.push_back(std::move(span));
  if (queue_.size() >= kBatch) cv_.notify_one();
}

void SpanExporter::flush() {
  std::unique_lock lock(mutex_);
  flushRequested_ = true;
  cv_.notify_one();
  cv_.wait_for(lock, std::chrono::seconds(5), [this] { return !flushRequested_ || stopping_; });
}

void SpanExporter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpanExporter::loop() {
  http::Client client(host_, port_, "", "", "the OTLP collector at " + host_ + ":" + std::to_string(port_));
  auto lastWarning = std::chrono::steady_clock::now() - std::chrono::minutes(1);
  while (true) {
    std::vector<Span> batch;
    bool stopping, flushing;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || flushRequested_ || queue_.size() >= kBatch; });
      size_t n = std::min(queue_.size(), kBatch * 4);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + long(n)));
      queue_.erase(queue_.begin(), queue_.begin() + long(n));
      stopping = stopping_;
      flushing = flushRequested_;
    }
    if (!batch.empty()) {
      auto r = client.request("POST", path_, encodeOtlpJson(batch, service_, "skiff"), "application/json");
      if (r && r->status / 100 == 2) {
        spansCounter("sent").inc(double(batch.size()));
      } else {
        spansCounter("failed").inc(double(batch.size()));
        auto now = std::chrono::steady_clock::now();
        if (now - lastWarning > std::chrono::seconds(30)) {  // say so, but not for every batch
          lastWarning = now;
          log::warn("otlp", "could not export " + std::to_string(batch.size()) + " spans: " +
                                (r ? "the collector answered " + std::to_string(r->status) : r.error().message));
        }
      }
    }
    if (flushing) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) {
        flushRequested_ = false;
        cv_.notify_all();
      }
    }
    if (stopping) return;
  }
}

}  // namespace skiff::observe
