// The proxy's configuration: an immutable snapshot of listeners, routes and clusters, built from
// Services, Endpoints, Gateways and HTTPRoutes (route_builder.h) and handed to every worker. A
// worker keeps the snapshot a request started with until the request ends, so a new table never
// drops in-flight requests. What outlives snapshots (live request counts, outlier ejections,
// circuit-breaker counters, slow-start clocks) sits in ClusterState/EndpointState, shared by
// name from one table to the next.
#pragma once
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/event_loop.h"
#include "proxy/http1.h"

namespace skiff::observe {
class Counter;
class Histogram;
}  // namespace skiff::observe

namespace skiff::proxy {

class MeshTls;

struct EndpointState {
  std::atomic<int> active{0};            // requests in flight to this endpoint (least-request)
  std::atomic<int> consecutiveErrors{0};  // gateway errors (or 5xx) in a row, for outlier detection
  std::atomic<int64_t> ejectedUntil{0};   // steady-clock nanoseconds; 0 = in rotation
  std::atomic<int> ejections{0};          // times ejected (the ejection time grows with it)
  std::atomic<uint64_t> requests{0};      // requests answered through this endpoint (autoscaling on traffic)
  Clock::time_point readySince;           // slow start counts from here
};

// sessionAffinity ClientIP: which endpoint each client address was sent to, and when last. Shared
// by every worker (a client's connections land on any of them), so guarded by a mutex; only
// Services that ask for affinity pay for it. Kept across route-table rebuilds with the cluster.
struct ClientAffinityTable {
  struct Entry {
    uint64_t endpoint = 0;  // the endpoint's address: IPv4 << 16 | port (an index moves between tables)
    uint32_t indexHint = 0;  // where it was in the table that recorded it
    int64_t lastUsedNs = 0;
  };
  static constexpr size_t kMaxClients = 100000;  // beyond this (after reaping), new clients are not remembered
  std::mutex mutex;
  std::unordered_map<uint32_t, Entry> byClient;  // client IPv4 (network order)
  int64_t nextReapNs = 0;
};

struct ClusterState {
  std::atomic<uint64_t> roundRobin{0};
  std::atomic<int> connections{0};  // upstream connections open, idle ones included
  std::atomic<int> busy{0};         // of those, carrying a request or a tunnel (the circuit breaker's count)
  std::atomic<int> pending{0};      // requests waiting for a connection
  std::atomic<int> requests{0};     // requests in flight
  std::atomic<int> retries{0};      // retries in flight (budget)
  std::atomic<int> ejected{0};      // endpoints ejected now
  ClientAffinityTable affinity;
};

struct Endpoint {
  sockaddr_in address{};
  std::string text;      // "ip:port"
  std::string pod;       // "" when not a pod (manual Endpoints)
  std::string workload;  // the pod's owning workload ("unknown" when not known)
  int port = 0;          // the workload's own port (AuthorizationPolicy `ports` match this)
  std::vector<int> policies;  // indexes in RouteTable::policies that select this endpoint's pod
  std::shared_ptr<EndpointState> state;
  // A pod on another node: connections go over mTLS to that node's inbound port (mesh_tls.h),
  // which must present `viaId`. Unset (remote false) for pods on this node and non-pods.
  bool remote = false;
  sockaddr_in via{};
  std::string viaId;
};

// A caller, known by its pod IP.
struct Workload {
  std::string ns, name;
  std::string principal;  // "cluster.local/ns/<ns>/sa/<serviceaccount>" (SPIFFE id without spiffe://)
};

// Istio-style string match: "exact", "prefix*", "*suffix" or "*".
struct StringMatch {
  enum class Kind { kExact, kPrefix, kSuffix, kAny } kind = Kind::kExact;
  std::string value;
  static StringMatch parse(const std::string& pattern);
  bool matches(std::string_view s) const;
};

// AuthorizationPolicy (security.istio.io/v1), enforced at the destination.
struct AuthzRule {
  struct Source {
    std::vector<StringMatch> principals, notPrincipals, namespaces, notNamespaces;
  };
  struct Operation {
    std::vector<StringMatch> methods, notMethods, paths, notPaths, hosts, notHosts;
    std::vector<int> ports, notPorts;
  };
  std::vector<Source> from;  // empty: any source
  std::vector<Operation> to;  // empty: any operation
};
struct AuthzPolicy {
  std::string name;  // "ns/name"
  bool deny = false;
  std::vector<AuthzRule> rules;  // ALLOW with no rules allows nothing
};
// What a request (or TCP connection: empty method and path) looks like to policy.
struct AuthzRequest {
  const Workload* source = nullptr;  // null: not a pod we know
  std::string_view method, path, host;
  int port = 0;
  // A mesh tunnel from another node's proxy, which parsed the requests and checked the rules'
  // methods, paths and hosts with the same policies: here only sources and ports are decided.
  bool operationCheckedAtSource = false;
};
// Null when allowed, else the policy that denies (or "" name for "no ALLOW policy matched").
const AuthzPolicy* denyingPolicy(const std::vector<AuthzPolicy>& policies, const std::vector<int>& applicable, const AuthzRequest& r,
                                 bool& denied);

enum class LbPolicy { kRoundRobin, kLeastRequest, kConsistentHash, kRandom };

struct HashPolicy {
  enum class Source { kNone, kHeader, kCookie, kSourceIp } source = Source::kNone;
  std::string name;  // header (lower case) or cookie name
};

struct CircuitBreaker {
  int maxConnections = 1024;
  int maxPendingRequests = 1024;
  int maxRequests = 1024;
  int maxRetries = 3;  // concurrent retries (or 20% of requests in flight, if more)
};

struct OutlierDetection {
  bool enabled = true;
  int consecutiveErrors = 5;
  bool all5xx = false;  // count every 5xx, not only 502/503/504 and connection failures
  std::chrono::milliseconds baseEjection{30000};
  int maxEjectionPercent = 50;  // at least one endpoint may always be ejected
};

struct RetryPolicy {
  int attempts = 0;  // retries after the first try
  bool onConnectFailure = true;  // connection refused/reset before a response
  bool on5xx = false;
  bool onGatewayError = false;  // 502, 503, 504
  std::vector<int> codes;       // retry on these statuses too
  std::chrono::milliseconds backoffBase{25};
  std::chrono::milliseconds backoffMax{250};
};

struct RouteMetrics;  // per (route, source, destination): counters found once, cached by workers

struct Cluster {
  std::string name;  // "ns/service:port"
  std::string ns, service;
  bool http2 = false;  // upstreams speak HTTP/2 (h2c; gRPC): HTTP/2 clients are multiplexed onto it
  std::vector<Endpoint> endpoints;
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashPolicy hash;
  std::vector<std::pair<uint64_t, uint32_t>> ring;  // consistent hash: (point, endpoint index), sorted
  std::chrono::milliseconds slowStart{0};           // ramp for new endpoints; 0 = off
  CircuitBreaker limits;
  OutlierDetection outlier;
  RetryPolicy retry;                      // defaults for routes that set none
  std::chrono::milliseconds timeout{0};   // whole request, 0 = none
  std::chrono::milliseconds connectTimeout{3000};
  // sessionAffinity ClientIP: a client sticks to its endpoint while it comes back within this
  // long (spec.sessionAffinityConfig.clientIP.timeoutSeconds); 0 = no affinity.
  std::chrono::seconds affinityTimeout{0};
  std::shared_ptr<ClusterState> state;
};

struct HeaderMatch {
  std::string name;  // lower case
  std::string value;
  std::shared_ptr<std::regex> regex;  // RegularExpression matches
};

struct QueryMatch {
  std::string name, value;
  std::shared_ptr<std::regex> regex;
};

struct RouteMatch {
  enum class Path { kPrefix, kExact, kRegex } pathType = Path::kPrefix;
  std::string path = "/";
  std::shared_ptr<std::regex> pathRegex;
  std::string method;  // "" = any
  std::vector<HeaderMatch> headers;
  std::vector<QueryMatch> query;
};

struct BackendRef {
  int cluster = -1;  // index in RouteTable::clusters; -1: the reference does not resolve (500)
  uint32_t weight = 1;
};

// RequestMirror: a copy of a share (numerator/denominator) of the route's requests goes to
// `cluster` as well; its answers are read and dropped (http_proxy's MirrorLeg).
struct RequestMirror {
  int cluster = -1;
  uint32_t numerator = 1, denominator = 1;
};

struct HeaderEdit {
  std::vector<std::pair<std::string, std::string>> set, add;
  std::vector<std::string> remove;  // lower case
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct Route {
  std::string name;  // for metrics and logs: "ns/httproute/rule" or "ns/service"
  std::vector<RouteMatch> matches;  // empty = match everything
  std::vector<BackendRef> backends;
  uint32_t totalWeight = 0;
  std::chrono::milliseconds timeout{0};         // whole request including retries; 0 = cluster's
  std::chrono::milliseconds attemptTimeout{0};  // per try; 0 = none
  std::optional<RetryPolicy> retry;             // unset: the cluster's
  HeaderEdit requestHeaders, responseHeaders;
  // A path modifier of URLRewrite or RequestRedirect: the whole path, or the matched prefix, replaced.
  struct PathModifier {
    enum class Kind { kNone, kFullPath, kPrefix } kind = Kind::kNone;
    std::string value;
  };
  PathModifier rewritePath;  // URLRewrite
  std::optional<std::string> rewriteHost;
  int redirectStatus = 0;  // RequestRedirect: answer this status with Location
  std::string redirectScheme, redirectHost;
  int redirectPort = 0;
  PathModifier redirectPath;
  int directResponse = 0;  // answer this status without an upstream (no backends: 500)
  std::vector<RequestMirror> mirrors;
};

class TlsTerminator;  // gateway_tls.h

struct VirtualHost {
  std::vector<std::string> hostnames;  // exact or "*.suffix"; empty = any
  std::vector<Route> routes;           // in match precedence order
};

struct Listener {
  std::string key;  // "ip:port" ("udp/ip:port" for UDP)
  std::string ip;   // "0.0.0.0" for every address
  int port = 0;
  // kMesh: the mTLS inbound port other nodes' proxies tunnel to (mesh_tls.h). kTls: a Gateway's
  // TLS port, where the ClientHello's server name picks the route; with `tls` the proxy
  // terminates TLS and tunnels the bytes inside, else it passes the TLS stream through.
  enum class Protocol { kTcp, kHttp, kUdp, kMesh, kTls } protocol = Protocol::kHttp;
  bool clusterIp = false;  // the address is a cluster IP (added to the node bridge)
  std::string name;        // "service ns/name" or "gateway ns/name/listener"
  // kTcp and kUdp of a Service: where connections (datagram flows) go. -1 on Gateway ports, whose
  // routes (TCPRoute, UDPRoute, TLSRoute) in `hosts` pick a backend per connection.
  int tcpCluster = -1;
  std::vector<VirtualHost> hosts;  // kHttp; kTls (by server name); Gateway kTcp and kUdp (one, unnamed)
  // kHttp on a Gateway HTTPS port, kTls on a TLS port that terminates (gateway_tls.h).
  std::shared_ptr<const TlsTerminator> tls;
};

struct RouteTable {
  uint64_t version = 0;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  std::vector<AuthzPolicy> policies;
  // Who is calling: pod IP (network order) -> workload, sorted by IP.
  std::vector<std::pair<uint32_t, Workload>> workloadsByIp;
  // The mesh: credentials (null: off), and the pods on this node that the inbound port may
  // reach, by (ip << 16 | port) in network order -> (cluster, endpoint), sorted.
  std::shared_ptr<const MeshTls> mesh;
  std::string trustDomain = "cluster.local";
  std::vector<std::pair<uint64_t, std::pair<int, int>>> meshTargets;

  const Workload* workloadOf(uint32_t ip) const;
  // The local endpoint a mesh tunnel asks for, or {-1, -1}.
  std::pair<int, int> meshTarget(const sockaddr_in& address) const;
};

// What a request looks like to routing.
struct RequestView {
  std::string_view method, path, query, host;
  const std::vector<http1::Header>* headers = nullptr;
};

// The route a request takes on `listener`, or null (404).
const Route* matchRoute(const Listener& listener, const RequestView& request);

// Picks an endpoint of `cluster`, skipping ejected ones and `exclude` (a retry avoids the endpoint
// that just failed); -1 when none is available. `hashKey` feeds consistent hashing; `random` is a
// per-worker generator.
int pickEndpoint(const Cluster& cluster, uint64_t hashKey, int exclude, uint64_t& random, Clock::time_point now);
// pickEndpoint for a request or connection from `clientIp` (IPv4, network order): with
// sessionAffinity ClientIP the endpoint this client was last sent to, while it is still in the
// cluster, not ejected, not `exclude`, and within the affinity timeout; otherwise a fresh pick,
// remembered for the client.
int pickEndpointFor(const Cluster& cluster, uint32_t clientIp, uint64_t hashKey, int exclude, uint64_t& random,
                    Clock::time_point now);
// Builds the consistent-hash ring of a cluster from its endpoints.
void buildRing(Cluster& cluster);
uint64_t hash64(std::string_view s);
uint64_t nextRandom(uint64_t& state);

}  // namespace skiff::proxy
