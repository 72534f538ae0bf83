#include "proxy/routes.h"

#include <algorithm>

#include "proxy/http1.h"

namespace skiff::proxy {
namespace {

bool hostMatches(const std::string& pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    return host.size() > suffix.size() && http1::equalsIgnoreCase(host.substr(host.size() - suffix.size()), suffix);
  }
  return http1::equalsIgnoreCase(pattern, host);
}

// Gateway API PathPrefix: "/foo" matches "/foo", "/foo/" and "/foo/bar", never "/foobar".
bool prefixMatches(std::string_view prefix, std::string_view path) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string_view queryValue(std::string_view query, std::string_view name, bool& found) {
  found = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      found = true;
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

bool matches(const RouteMatch& m, const RequestView& r) {
  switch (m.pathType) {
    case RouteMatch::Path::kExact:
      if (r.path != m.path) return false;
      break;
    case RouteMatch::Path::kPrefix:
      if (!prefixMatches(m.path, r.path)) return false;
      break;
    case RouteMatch::Path::kRegex:
      if (!m.pathRegex || !std::regex_match(r.path.begin(), r.path.end(), *m.pathRegex)) return false;
      break;
  }
  if (!m.method.empty() && r.method != m.method) return false;
  for (const auto& h : m.headers) {
    bool ok = false;
    if (r.headers)
      for (const auto& [name, value] : *r.headers)
        if (http1::equalsIgnoreCase(name, h.name)) {
          ok = h.regex ? std::regex_match(value.begin(), value.end(), *h.regex) : value == std::string_view(h.value);
          break;
        }
    if (!ok) return false;
  }
  for (const auto& q : m.query) {
    bool found;
    std::string_view v = queryValue(r.query, q.name, found);
    if (!found || (q.regex ? !std::regex_match(v.begin(), v.end(), *q.regex) : v != q.value)) return false;
  }
  return true;
}

// Weight of an endpoint still in slow start: grows linearly from 10% to 100% over the window.
double slowStartWeight(const Cluster& c, const Endpoint& e, Clock::time_point now) {
  if (c.slowStart.count() <= 0) return 1.0;
  auto age = now - e.state->readySince;
  if (age >= c.slowStart) return 1.0;
  double f = std::chrono::duration<double>(age) / std::chrono::duration<double>(c.slowStart);
  return std::max(0.1, f);
}

}  // namespace

uint64_t nextRandom(uint64_t& s) {  // splitmix64
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash64(std::string_view s) {  // FNV-1a, then a finaliser so nearby keys spread over the ring
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

StringMatch StringMatch::parse(const std::string& p) {
  if (p == "*") return {Kind::kAny, ""};
  if (p.size() > 1 && p.back() == '*') return {Kind::kPrefix, p.substr(0, p.size() - 1)};
  if (p.size() > 1 && p.front() == '*') return {Kind::kSuffix, p.substr(1)};
  return {Kind::kExact, p};
}

bool StringMatch::matches(std::string_view s) const {
  switch (kind) {
    case Kind::kAny: return !s.empty();
    case Kind::kPrefix: return s.starts_with(value);
    case Kind::kSuffix: return s.ends_with(value);
    case Kind::kExact: return s == value;
  }
  return false;
}

namespace {

bool anyMatches(const std::vector<StringMatch>& patterns, std::string_view s) {
  for (const auto& p : patterns)
    if (p.matches(s)) return true;
  return false;
}

// A field with values must match; a not-field must not. Fields left out do not constrain.
bool sourceMatches(const AuthzRule::Source& s, const AuthzRequest& r) {
  std::string_view principal = r.source ? std::string_view(r.source->principal) : std::string_view{};
  std::string_view ns = r.source ? std::string_view(r.source->ns) : std::string_view{};
  if (!s.principals.empty() && !anyMatches(s.principals, principal)) return false;
  if (anyMatches(s.notPrincipals, principal)) return false;
  if (!s.namespaces.empty() && !anyMatches(s.namespaces, ns)) return false;
  if (anyMatches(s.notNamespaces, ns)) return false;
  return true;
}

bool operationMatches(const AuthzRule::Operation& o, const AuthzRequest& r, bool deny) {
  if (r.operationCheckedAtSource && !(o.methods.empty() && o.notMethods.empty() && o.paths.empty() && o.notPaths.empty() &&
                                      o.hosts.empty() && o.notHosts.empty())) {
    // The source proxy decided the request-level fields: an ALLOW rule that needs them lets the
    // tunnel open (its requests were checked), a DENY rule that needs them does not close it.
    if (deny) return false;
    if (!o.ports.empty() && std::find(o.ports.begin(), o.ports.end(), r.port) == o.ports.end()) return false;
    return std::find(o.notPorts.begin(), o.notPorts.end(), r.port) == o.notPorts.end();
  }
  if (!o.methods.empty() && !anyMatches(o.methods, r.method)) return false;
  if (anyMatches(o.notMethods, r.method)) return false;
  if (!o.paths.empty() && !anyMatches(o.paths, r.path)) return false;
  if (anyMatches(o.notPaths, r.path)) return false;
  std::string_view host = r.host.substr(0, r.host.rfind(':') == std::string_view::npos ? r.host.size() : r.host.rfind(':'));
  if (!o.hosts.empty() && !anyMatches(o.hosts, host)) return false;
  if (anyMatches(o.notHosts, host)) return false;
  if (!o.ports.empty() && std::find(o.ports.begin(), o.ports.end(), r.port) == o.ports.end()) return false;
  if (std::find(o.notPorts.begin(), o.notPorts.end(), r.port) != o.notPorts.end()) return false;
  return true;
}

bool ruleMatches(const AuthzRule& rule, const AuthzRequest& r, bool deny) {
  bool from = rule.from.empty(), to = rule.to.empty();
  for (const auto& s : rule.from) from = from || sourceMatches(s, r);
  for (const auto& o : rule.to) to = to || operationMatches(o, r, deny);
  return from && to;
}

}  // namespace

const AuthzPolicy* denyingPolicy(const std::vector<AuthzPolicy>& policies, const std::vector<int>& applicable, const AuthzRequest& r,
                                 bool& denied) {
  denied = false;
  if (applicable.empty()) return nullptr;
  // DENY first: any matching rule denies.
  for (int i : applicable) {
    const AuthzPolicy& p = policies[size_t(i)];
    if (!p.deny) continue;
    for (const auto& rule : p.rules)
      if (ruleMatches(rule, r, true)) {
        denied = true;
        return &p;
      }
  }
  // Then ALLOW: when any applies, one of its rules must match.
  const AuthzPolicy* firstAllow = nullptr;
  for (int i : applicable) {
    const AuthzPolicy& p = policies[size_t(i)];
    if (p.deny) continue;
    if (!firstAllow) firstAllow = &p;
    for (const auto& rule : p.rules)
      if (ruleMatches(rule, r, false)) return nullptr;
  }
  denied = firstAllow != nullptr;
  return firstAllow;
}

const Workload* RouteTable::workloadOf(uint32_t ip) const {
  auto it = std::lower_bound(workloadsByIp.begin(), workloadsByIp.end(), ip, [](const auto& e, uint32_t v) { return e.first < v; });
  return it != workloadsByIp.end() && it->first == ip ? &it->second : nullptr;
}

std::pair<int, int> RouteTable::meshTarget(const sockaddr_in& a) const {
  uint64_t key = (uint64_t(a.sin_addr.s_addr) << 16) | a.sin_port;
  auto it = std::lower_bound(meshTargets.begin(), meshTargets.end(), key, [](const auto& e, uint64_t v) { return e.first < v; });
  return it != meshTargets.end() && it->first == key ? it->second : std::make_pair(-1, -1);
}

const Route* matchRoute(const Listener& listener, const RequestView& request) {
  std::string_view host = request.host;
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) host = host.substr(0, colon);
  // Most specific host first: exact, then the longest wildcard, then hosts without names.
  const VirtualHost* best = nullptr;
  size_t bestScore = 0;
  for (const auto& vh : listener.hosts) {
    size_t score = 0;
    if (vh.hostnames.empty()) {
      score = 1;
    } else {
      for (const auto& h : vh.hostnames)
        if (hostMatches(h, host)) score = std::max(score, h.starts_with("*.") ? 2 + h.size() : size_t(1) << 20);
    }
    if (score > bestScore) {
      bestScore = score;
      best = &vh;
    }
  }
  if (!best) return nullptr;
  for (const auto& route : best->routes) {
    if (route.matches.empty()) return &route;
    for (const auto& m : route.matches)
      if (matches(m, request)) return &route;
  }
  return nullptr;
}

namespace {
uint64_t endpointAddressKey(const Endpoint& e) {
  return uint64_t(ntohl(e.address.sin_addr.s_addr)) << 16 | ntohs(e.address.sin_port);
}
}  // namespace

int pickEndpointFor(const Cluster& c, uint32_t clientIp, uint64_t hashKey, int exclude, uint64_t& random,
                    Clock::time_point now) {
  if (c.affinityTimeout.count() <= 0 || c.endpoints.empty()) return pickEndpoint(c, hashKey, exclude, random, now);
  const int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const int64_t timeoutNs = std::chrono::duration_cast<std::chrono::nanoseconds>(c.affinityTimeout).count();
  ClientAffinityTable& table = c.state->affinity;
  std::lock_guard lock(table.mutex);
  auto usable = [&](int i) {
    // An ejected endpoint loses its clients, unless every endpoint is ejected (pickEndpoint's panic mode).
    return i != exclude && c.endpoints[size_t(i)].state->ejectedUntil.load(std::memory_order_relaxed) <= nowNs;
  };
  auto it = table.byClient.find(clientIp);
  if (it != table.byClient.end() && nowNs - it->second.lastUsedNs <= timeoutNs) {
    auto& entry = it->second;
    int found = -1;
    if (entry.indexHint < c.endpoints.size() && endpointAddressKey(c.endpoints[entry.indexHint]) == entry.endpoint) {
      found = int(entry.indexHint);
    } else {
      for (size_t i = 0; i < c.endpoints.size() && found < 0; ++i)
        if (endpointAddressKey(c.endpoints[i]) == entry.endpoint) found = int(i);
    }
    if (found >= 0 && usable(found)) {
      entry.indexHint = uint32_t(found);
      entry.lastUsedNs = nowNs;
      return found;
    }
  }
  int e = pickEndpoint(c, hashKey, exclude, random, now);
  if (e < 0) return e;
  if (nowNs >= table.nextReapNs || (it == table.byClient.end() && table.byClient.size() >= ClientAffinityTable::kMaxClients)) {
    std::erase_if(table.byClient, [&](const auto& kv) { return nowNs - kv.second.lastUsedNs > timeoutNs; });
    table.nextReapNs = nowNs + std::min<int64_t>(timeoutNs, int64_t(60) * 1000000000);
    it = table.byClient.find(clientIp);
  }
  if (it == table.byClient.end() && table.byClient.size() >= ClientAffinityTable::kMaxClients) return e;
  table.byClient[clientIp] = {endpointAddressKey(c.endpoints[size_t(e)]), uint32_t(e), nowNs};
  return e;
}

void buildRing(Cluster& c) {
  c.ring.clear();
  constexpr int kPointsPerEndpoint = 100;
  for (uint32_t i = 0; i < c.endpoints.size(); ++i)
    for (int v = 0; v < kPointsPerEndpoint; ++v) c.ring.emplace_back(hash64(c.endpoints[i].text + "#" + std::to_string(v)), i);
  std::sort(c.ring.begin(), c.ring.end());
}

int pickEndpoint(const Cluster& c, uint64_t hashKey, int exclude, uint64_t& random, Clock::time_point now) {
  const int n = int(c.endpoints.size());
  if (n == 0) return -1;
  const int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  // Ejected endpoints are skipped unless every endpoint is ejected (then all serve: "panic").
  bool anyIn = false;
  for (int i = 0; i < n && !anyIn; ++i) anyIn = i != exclude && c.endpoints[i].state->ejectedUntil.load(std::memory_order_relaxed) <= nowNs;
  auto eligible = [&](int i) {
    if (i == exclude && n > 1) return false;
    return !anyIn || c.endpoints[i].state->ejectedUntil.load(std::memory_order_relaxed) <= nowNs;
  };
  auto firstEligibleFrom = [&](int start) {
    for (int k = 0; k < n; ++k)
      if (int i = (start + k) % n; eligible(i)) return i;
    return -1;
  };
  bool slow = false;
  if (c.slowStart.count() > 0)
    for (const auto& e : c.endpoints) slow = slow || now - e.state->readySince < c.slowStart;

  switch (c.lb) {
    case LbPolicy::kConsistentHash: {
      if (!c.ring.empty() && c.hash.source != HashPolicy::Source::kNone) {
        auto it = std::lower_bound(c.ring.begin(), c.ring.end(), std::make_pair(hashKey, uint32_t(0)));
        for (size_t k = 0; k < c.ring.size(); ++k, ++it) {
          if (it == c.ring.end()) it = c.ring.begin();
          if (eligible(int(it->second))) return int(it->second);
        }
        return -1;
      }
      [[fallthrough]];  // no key to hash on: round robin
    }
    case LbPolicy::kRoundRobin:
      if (!slow) return firstEligibleFrom(int(c.state->roundRobin.fetch_add(1, std::memory_order_relaxed) % uint64_t(n)));
      [[fallthrough]];  // weighted while an endpoint ramps up
    case LbPolicy::kRandom: {
      double total = 0;
      for (int i = 0; i < n; ++i)
        if (eligible(i)) total += slowStartWeight(c, c.endpoints[i], now);
      if (total <= 0) return -1;
      double r = double(nextRandom(random) >> 11) * 0x1.0p-53 * total;
      for (int i = 0; i < n; ++i)
        if (eligible(i)) {
          r -= slowStartWeight(c, c.endpoints[i], now);
          if (r < 0) return i;
        }
      return firstEligibleFrom(0);
    }
    case LbPolicy::kLeastRequest: {
      // Power of two choices: two random eligible endpoints, the one with fewer requests in
      // flight (relative to its slow-start weight) wins.
      int a = firstEligibleFrom(int(nextRandom(random) % uint64_t(n)));
      int b = firstEligibleFrom(int(nextRandom(random) % uint64_t(n)));
      if (a < 0 || b < 0) return a < 0 ? b : a;
      double la = (c.endpoints[a].state->active.load(std::memory_order_relaxed) + 1) / slowStartWeight(c, c.endpoints[a], now);
      double lb = (c.endpoints[b].state->active.load(std::memory_order_relaxed) + 1) / slowStartWeight(c, c.endpoints[b], now);
      return lb < la ? b : a;
    }
  }
  return -1;
}

}  // namespace skiff::proxy
