// Spans exported as OTLP/HTTP JSON (`POST <endpoint>/v1/traces`), the format every OpenTelemetry
// collector, Jaeger and Tempo accept. Recording is cheap and never blocks: spans go into a bounded
// queue (dropped and counted when it is full) that a background thread ships every second or
// every 512 spans. Trace and span ids are hex, as OTLP/JSON wants them.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

namespace skiff::observe {

struct Span {
  std::string traceId;       // 32 hex digits
  std::string spanId;        // 16 hex digits
  std::string parentSpanId;  // "" for a root span
  std::string name;
  int kind = 2;  // OTLP SpanKind: 2 server, 3 client
  int64_t startUnixNanos = 0, endUnixNanos = 0;
  bool error = false;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<std::pair<std::string, int64_t>> intAttributes;
};

// W3C trace context: the parts of a valid version-00 `traceparent` header, or nothing.
struct TraceContext {
  std::string traceId, parentId, flags;
};
std::optional<TraceContext> parseTraceparent(std::string_view header);
// `bytes` random bytes as lower-case hex (trace ids: 16, span ids: 8), never all zero.
std::string randomHexId(int bytes);

// The OTLP/JSON request body for `spans` from `service`.
std::string encodeOtlpJson(const std::vector<Span>& spans, const std::string& service, const std::string& scope);

class SpanExporter {
 public:
  // endpoint: http://host:port (the path /v1/traces is added unless the URL has a path).
  static Result<std::unique_ptr<SpanExporter>> create(const std::string& endpoint, std::string service);
  ~SpanExporter();
  void record(Span span);
  // Sends what is queued now (tests, shutdown).
  void flush();
  void stop();

 private:
  SpanExporter() = default;
  void loop();
  bool send(std::vector<Span>& batch);

  std::string host_, path_, service_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Span> queue_;
  bool stopping_ = false;
  bool flushRequested_ = false;
  std::thread thread_;
};

}  // namespace skiff::observe
