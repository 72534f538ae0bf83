// How the node proxy treats traffic to a Service, from `skiff.dev/*` annotations on it. Annotations
// keep manifests portable: any other Kubernetes ignores them. Admission rejects values that do
// not parse, naming the annotation.
//
//   skiff.dev/load-balancer              round-robin (default) | least-request | random | consistent-hash
//   skiff.dev/hash-on                    header:NAME | cookie:NAME | source-ip   (consistent-hash)
//   skiff.dev/slow-start                 duration over which a new endpoint ramps up to full weight
//   skiff.dev/timeout                    whole-request timeout (routes may set their own)
//   skiff.dev/retries                    retries after the first try (default 2 on connect failures)
//   skiff.dev/retry-on                   comma list: connect-failure, gateway-error, 5xx, or status codes
//   skiff.dev/max-connections, skiff.dev/max-pending-requests, skiff.dev/max-requests,
//   skiff.dev/max-retries                circuit breaker thresholds (defaults 1024, 1024, 1024, 3)
//   skiff.dev/outlier-consecutive-errors errors in a row that eject an endpoint (default 5; 0 = off)
//   skiff.dev/outlier-base-ejection      first ejection time (default 30s; grows with each ejection)
//   skiff.dev/outlier-max-ejection-percent   (default 50)
//   skiff.dev/outlier-count-5xx          "true": any 5xx counts, not only 502/503/504 and resets
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

namespace skiff::api {

// Go/Gateway API durations: "250ms", "10s", "1m30s", "1.5h". Milliseconds, or nothing if invalid.
std::optional<int64_t> parseDurationMillis(std::string_view text);

struct TrafficPolicy {
  std::string loadBalancer = "round-robin";
  std::string hashSource;  // "header", "cookie", "source-ip" or ""
  std::string hashName;
  int64_t slowStartMs = 0;
  int64_t timeoutMs = 0;
  int retries = -1;  // -1: default
  bool retryConnectFailure = true, retryGatewayError = false, retry5xx = false;
  std::vector<int> retryCodes;
  int maxConnections = 1024, maxPendingRequests = 1024, maxRequests = 1024, maxRetries = 3;
  int outlierConsecutiveErrors = 5;
  int64_t outlierBaseEjectionMs = 30000;
  int outlierMaxEjectionPercent = 50;
  bool outlierCount5xx = false;
};

struct PolicyProblem {
  std::string field;    // "metadata.annotations[skiff.dev/timeout]"
  std::string value;
  std::string message;
};

// Reads the annotations of `service`; a value that does not parse keeps its default and is
// reported in `problems` (when given).
TrafficPolicy readTrafficPolicy(const boost::json::value& service, std::vector<PolicyProblem>* problems);

}  // namespace skiff::api
