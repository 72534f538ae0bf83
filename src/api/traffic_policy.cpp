#include "api/traffic_policy.h"

#include <boost/json.hpp>
#include <charconv>

#include "api/object.h"

namespace skiff::api {
namespace json = boost::json;

std::optional<int64_t> parseDurationMillis(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
    if (ec != std::errc() || p != s.data() + i) return std::nullopt;
    s.remove_prefix(i);
    double unit;
    if (s.starts_with("ms")) unit = 1, s.remove_prefix(2);
    else if (s.starts_with("h")) unit = 3600000, s.remove_prefix(1);
    else if (s.starts_with("m")) unit = 60000, s.remove_prefix(1);
    else if (s.starts_with("s")) unit = 1000, s.remove_prefix(1);
    else return std::nullopt;
    total += v * unit;
  }
  if (total > 1e12) return std::nullopt;
  return int64_t(total);
}

namespace {

std::optional<int> parseCount(std::string_view s, int min, int max) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

}  // namespace

TrafficPolicy readTrafficPolicy(const json::value& service, std::vector<PolicyProblem>* problems) {
  TrafficPolicy p;
  const json::value* annotations = valueAt(service, "metadata.annotations");
  if (!annotations || !annotations->is_object()) return p;
  auto problem = [&](std::string_view key, std::string_view value, std::string message) {
    if (problems) problems->push_back({"metadata.annotations[" + std::string(key) + "]", std::string(value), std::move(message)});
  };
  for (const auto& kv : annotations->get_object()) {
    std::string_view key = kv.key();
    if (!key.starts_with("skiff.dev/") || !kv.value().is_string()) continue;
    std::string_view name = key.substr(10);
    std::string_view v = kv.value().get_string();
    auto count = [&](int& out, int min, int max) {
      if (auto n = parseCount(v, min, max)) out = *n;
      else problem(key, v, "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    };
    auto duration = [&](int64_t& out) {
      if (auto d = parseDurationMillis(v)) out = *d;
      else problem(key, v, "must be a duration such as 250ms, 10s or 1m30s");
    };
    if (name == "load-balancer") {
      if (v == "round-robin" || v == "least-request" || v == "random" || v == "consistent-hash") p.loadBalancer = v;
      else problem(key, v, "supported values: \"consistent-hash\", \"least-request\", \"random\", \"round-robin\"");
    } else if (name == "hash-on") {
      if (v == "source-ip") {
        p.hashSource = "source-ip";
      } else if ((v.starts_with("header:") || v.starts_with("cookie:")) && v.size() > 7) {
        p.hashSource = std::string(v.substr(0, 6));
        p.hashName = std::string(v.substr(7));
        if (p.hashSource == "header")
          for (char& c : p.hashName) c = char(std::tolower(static_cast<unsigned char>(c)));
      } else {
        problem(key, v, "must be header:NAME, cookie:NAME or source-ip");
      }
    } else if (name == "slow-start") {
      duration(p.slowStartMs);
    } else if (name == "timeout") {
      duration(p.timeoutMs);
    } else if (name == "retries") {
      count(p.retries, 0, 10);
    } else if (name == "retry-on") {
      p.retryConnectFailure = false;
      std::string_view rest = v;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view t = rest.substr(0, comma);
        while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
        while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
        if (t == "connect-failure") p.retryConnectFailure = true;
        else if (t == "gateway-error") p.retryGatewayError = true;
        else if (t == "5xx") p.retry5xx = true;
        else if (auto code = parseCount(t, 100, 599)) p.retryCodes.push_back(*code);
        else problem(key, v, "\"" + std::string(t) + "\" is not connect-failure, gateway-error, 5xx or a status code");
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (name == "max-connections") {
      count(p.maxConnections, 1, 1000000);
    } else if (name == "max-pending-requests") {
      count(p.maxPendingRequests, 0, 1000000);
    } else if (name == "max-requests") {
      count(p.maxRequests, 1, 1000000);
    } else if (name == "max-retries") {
      count(p.maxRetries, 0, 1000000);
    } else if (name == "outlier-consecutive-errors") {
      count(p.outlierConsecutiveErrors, 0, 1000);
    } else if (name == "outlier-base-ejection") {
      duration(p.outlierBaseEjectionMs);
    } else if (name == "outlier-max-ejection-percent") {
      count(p.outlierMaxEjectionPercent, 0, 100);
    } else if (name == "outlier-count-5xx") {
      if (v == "true" || v == "false") p.outlierCount5xx = v == "true";
      else problem(key, v, "must be \"true\" or \"false\"");
    }
  }
  if (p.loadBalancer == "consistent-hash" && p.hashSource.empty())
    problem("skiff.dev/hash-on", "", "consistent-hash needs skiff.dev/hash-on (header:NAME, cookie:NAME or source-ip)");
  return p;
}

}  // namespace skiff::api
