#include "proxy/route_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <unordered_map>

#include "api/object.h"
#include "api/selector.h"
#include "api/traffic_policy.h"
#include "common/log.h"
#include "proxy/gateway_tls.h"

namespace skiff::proxy {
namespace json = boost::json;
namespace {

int64_t intAt(const json::value& v, std::string_view path, int64_t def) {
  const json::value* x = api::valueAt(v, path);
  return x && x->is_int64() ? x->get_int64() : def;
}

// HTTPPathModifier: {type: ReplaceFullPath, replaceFullPath} or {type: ReplacePrefixMatch,
// replacePrefixMatch} (an empty prefix replacement means "/").
Route::PathModifier pathModifier(const json::value& filter, const std::string& at) {
  Route::PathModifier m;
  std::string type = api::stringAt(filter, at + ".type");
  if (type == "ReplaceFullPath") {
    m.kind = Route::PathModifier::Kind::kFullPath;
    m.value = api::stringAt(filter, at + ".replaceFullPath");
  } else if (type == "ReplacePrefixMatch") {
    m.kind = Route::PathModifier::Kind::kPrefix;
    m.value = api::stringAt(filter, at + ".replacePrefixMatch");
  }
  if (m.value.empty()) m.value = "/";
  return m;
}

std::string keyOf(const json::value& o) { return api::stringAt(o, "metadata.namespace") + "/" + api::stringAt(o, "metadata.name"); }

// The workload a pod belongs to: its Deployment (ReplicaSet name minus the template hash), other
// controller, or itself.
std::string workloadOf(const json::value& pod) {
  for (const auto& ref : api::arrayAt(pod, "metadata.ownerReferences")) {
    std::string kind = api::stringAt(ref, "kind"), name = api::stringAt(ref, "name");
    if (kind == "ReplicaSet") {
      std::string hash = api::stringAt(pod, "metadata.labels.pod-template-hash");
      if (!hash.empty() && name.size() > hash.size() + 1 && name.ends_with("-" + hash)) return name.substr(0, name.size() - hash.size() - 1);
    }
    if (!name.empty()) return name;
  }
  return api::stringAt(pod, "metadata.name");
}

// Ports whose upstreams speak HTTP/2 without TLS (gRPC included), as Istio reads port names and
// Kubernetes' appProtocol values.
bool isHttp2Port(const json::value& port) {
  std::string app = api::stringAt(port, "appProtocol"), name = api::stringAt(port, "name");
  if (app == "kubernetes.io/h2c" || app == "grpc" || app == "http2" || app == "h2c") return true;
  for (const char* prefix : {"grpc", "http2", "h2c"})
    if (name == prefix || name.starts_with(std::string(prefix) + "-")) return true;
  return false;
}

bool isHttpPort(const json::value& port) {
  std::string app = api::stringAt(port, "appProtocol"), name = api::stringAt(port, "name");
  return app == "http" || app == "HTTP" || name == "http" || name.starts_with("http-") || isHttp2Port(port);
}

json::object condition(const std::string& type, bool ok, const std::string& reason, const std::string& message, int64_t generation) {
  return json::object{{"type", type},
                      {"status", ok ? "True" : "False"},
                      {"reason", reason},
                      {"message", message},
                      {"observedGeneration", generation},
                      {"lastTransitionTime", api::rfc3339Now()}};
}

bool hostnameIntersects(const std::string& listener, const std::string& route) {
  auto matches = [](const std::string& pattern, const std::string& host) {
    if (pattern.starts_with("*.")) return host.size() > pattern.size() - 1 && host.ends_with(pattern.substr(1));
    return pattern == host;
  };
  return listener.empty() || route.empty() || listener == route || matches(listener, route) || matches(route, listener);
}

// Gateway API match precedence: exact path, longest prefix, method, most headers, most query
// params (then route age and name, then rule order: the order routes were added in).
struct Ranked {
  Route route;
  std::string created, name;
  size_t order;
};
bool before(const Ranked& a, const Ranked& b) {
  const RouteMatch* ma = a.route.matches.empty() ? nullptr : &a.route.matches.front();
  const RouteMatch* mb = b.route.matches.empty() ? nullptr : &b.route.matches.front();
  auto rank = [](const RouteMatch* m) { return !m ? 1 : m->pathType == RouteMatch::Path::kExact ? 3 : m->pathType == RouteMatch::Path::kRegex ? 2 : 1; };
  if (rank(ma) != rank(mb)) return rank(ma) > rank(mb);
  size_t la = ma ? ma->path.size() : 1, lb = mb ? mb->path.size() : 1;
  if (la != lb) return la > lb;
  bool xa = ma && !ma->method.empty(), xb = mb && !mb->method.empty();
  if (xa != xb) return xa;
  size_t ha = ma ? ma->headers.size() : 0, hb = mb ? mb->headers.size() : 0;
  if (ha != hb) return ha > hb;
  size_t qa = ma ? ma->query.size() : 0, qb = mb ? mb->query.size() : 0;
  if (qa != qb) return qa > qb;
  if (a.created != b.created) return a.created < b.created;
  if (a.name != b.name) return a.name < b.name;
  return a.order < b.order;
}

std::shared_ptr<std::regex> compile(const std::string& pattern) {
  try {
    return std::make_shared<std::regex>(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error&) {
    return std::make_shared<std::regex>("$^");  // admission refuses these; never match if one slips in
  }
}

}  // namespace

BuildResult RouteBuilder::build(const RouteSources& src, Clock::time_point now) {
  BuildResult result;
  auto table = std::make_shared<RouteTable>();
  table->version = ++version_;
  RouteTable& t = *table;

  // Who is who: pod IP -> workload and identity, pod name -> workload, labels and node.
  bool mesh = !mesh_.nodeName.empty() && mesh_.issue && mesh_.port > 0;
  t.trustDomain = mesh_.trustDomain;
  std::unordered_map<std::string, std::string> podWorkload, podNode;  // "ns/pod"
  std::unordered_map<std::string, const json::value*> podLabels;
  std::set<std::string> localIdentities;  // SPIFFE ids of this node's pods
  for (const auto& pod : src.pods) {
    std::string ns = api::stringAt(*pod, "metadata.namespace"), w = workloadOf(*pod);
    std::string key = ns + "/" + api::stringAt(*pod, "metadata.name");
    podWorkload[key] = w;
    podLabels[key] = api::valueAt(*pod, "metadata.labels");
    podNode[key] = api::stringAt(*pod, "spec.nodeName");
    std::string sa = api::stringAt(*pod, "spec.serviceAccountName").empty() ? "default" : api::stringAt(*pod, "spec.serviceAccountName");
    std::string principal = mesh_.trustDomain + "/ns/" + ns + "/sa/" + sa;
    if (mesh && podNode[key] == mesh_.nodeName && !api::stringAt(*pod, "status.podIP").empty()) localIdentities.insert("spiffe://" + principal);
    std::string ip = api::stringAt(*pod, "status.podIP");
    in_addr a{};
    if (ip.empty() || ip.starts_with("127.") || inet_pton(AF_INET, ip.c_str(), &a) != 1) continue;
    t.workloadsByIp.push_back({a.s_addr, Workload{ns, w, principal}});
  }
  // Where other nodes' proxies listen for the mesh: their InternalIP.
  std::unordered_map<std::string, sockaddr_in> meshAddresses;
  if (mesh) {
    // Without credentials (the CA failed) pods on other nodes are still marked remote, and
    // connections to them fail: traffic between nodes never falls back to plain text.
    t.mesh = meshCredentials(localIdentities, now);
    for (const auto& node : src.nodes)
      for (const auto& a : api::arrayAt(*node, "status.addresses"))
        if (api::stringAt(a, "type") == "InternalIP") {
          sockaddr_in via{};
          via.sin_family = AF_INET;
          via.sin_port = htons(uint16_t(mesh_.port));
          if (inet_pton(AF_INET, api::stringAt(a, "address").c_str(), &via.sin_addr) == 1) meshAddresses[api::stringAt(*node, "metadata.name")] = via;
          break;
        }
  }

  // AuthorizationPolicies, and which pods each selects (its namespace; matchLabels, or all).
  std::vector<std::pair<std::string, const json::value*>> policySelectors;  // (namespace, matchLabels or null)
  for (const auto& ap : src.authorizationPolicies) {
    AuthzPolicy p;
    p.name = keyOf(*ap);
    p.deny = api::stringAt(*ap, "spec.action") == "DENY";
    auto matches = [](const json::value& v, std::string_view path) {
      std::vector<StringMatch> out;
      for (const auto& s : api::arrayAt(v, path))
        if (s.is_string()) out.push_back(StringMatch::parse(std::string(s.get_string())));
      return out;
    };
    auto ports = [](const json::value& v, std::string_view path) {
      std::vector<int> out;
      for (const auto& s : api::arrayAt(v, path))
        if (s.is_string()) out.push_back(std::atoi(std::string(s.get_string()).c_str()));
      return out;
    };
    for (const auto& rule : api::arrayAt(*ap, "spec.rules")) {
      AuthzRule r;
      for (const auto& f : api::arrayAt(rule, "from"))
        r.from.push_back({matches(f, "source.principals"), matches(f, "source.notPrincipals"), matches(f, "source.namespaces"),
                          matches(f, "source.notNamespaces")});
      for (const auto& to : api::arrayAt(rule, "to"))
        r.to.push_back({matches(to, "operation.methods"), matches(to, "operation.notMethods"), matches(to, "operation.paths"),
                        matches(to, "operation.notPaths"), matches(to, "operation.hosts"), matches(to, "operation.notHosts"),
                        ports(to, "operation.ports"), ports(to, "operation.notPorts")});
      p.rules.push_back(std::move(r));
    }
    policySelectors.emplace_back(api::stringAt(*ap, "metadata.namespace"), api::valueAt(*ap, "spec.selector.matchLabels"));
    t.policies.push_back(std::move(p));
  }
  auto policiesFor = [&](const std::string& ns, const std::string& pod) {
    std::vector<int> out;
    const json::value* labels = nullptr;
    if (auto it = podLabels.find(ns + "/" + pod); it != podLabels.end()) labels = it->second;
    for (size_t i = 0; i < policySelectors.size(); ++i) {
      const auto& [pns, selector] = policySelectors[i];
      if (pns != ns) continue;
      bool selected = true;
      if (selector && selector->is_object())
        for (const auto& kv : selector->get_object()) {
          const json::value* have = labels && labels->is_object() ? labels->get_object().if_contains(kv.key()) : nullptr;
          selected = selected && have && *have == kv.value();
        }
      if (selected) out.push_back(int(i));
    }
    return out;
  };
  std::sort(t.workloadsByIp.begin(), t.workloadsByIp.end(), [](const auto& x, const auto& y) { return x.first < y.first; });

  // Clusters: one per Service port.
  std::unordered_map<std::string, const json::value*> services;  // "ns/name"
  std::unordered_map<std::string, const json::value*> endpointsByService;
  for (const auto& e : src.endpoints) endpointsByService[keyOf(*e)] = e.get();
  std::map<std::string, int> clusterIndex;  // "ns/name:port"
  std::set<std::string> liveClusters, liveEndpoints;
  for (const auto& svc : src.services) {
    std::string key = keyOf(*svc);
    services[key] = svc.get();
    std::string ns = api::stringAt(*svc, "metadata.namespace"), name = api::stringAt(*svc, "metadata.name");
    api::TrafficPolicy policy = api::readTrafficPolicy(*svc, nullptr);
    std::chrono::seconds affinityTimeout{0};
    if (api::stringAt(*svc, "spec.sessionAffinity") == "ClientIP") {
      int64_t seconds = intAt(*svc, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 10800);
      affinityTimeout = std::chrono::seconds(seconds > 0 ? seconds : 10800);
    }
    const json::value* ep = endpointsByService.count(key) ? endpointsByService[key] : nullptr;
    for (const auto& port : api::arrayAt(*svc, "spec.ports")) {
      int64_t number = intAt(port, "port", 0);
      std::string proto = api::stringAt(port, "protocol");
      if (number <= 0 || (!proto.empty() && proto != "TCP" && proto != "UDP")) continue;
      Cluster c;
      c.name = key + ":" + std::to_string(number) + (proto == "UDP" ? "/UDP" : "");
      c.ns = ns;
      c.service = name;
      c.http2 = isHttp2Port(port);
      auto& state = clusterStates_[c.name];
      if (!state) state = std::make_shared<ClusterState>();
      c.state = state;
      liveClusters.insert(c.name);
      c.lb = policy.loadBalancer == "least-request" ? LbPolicy::kLeastRequest
             : policy.loadBalancer == "random"      ? LbPolicy::kRandom
             : policy.loadBalancer == "consistent-hash" ? LbPolicy::kConsistentHash
                                                    : LbPolicy::kRoundRobin;
      if (policy.hashSource == "header") c.hash = {HashPolicy::Source::kHeader, policy.hashName};
      else if (policy.hashSource == "cookie") c.hash = {HashPolicy::Source::kCookie, policy.hashName};
      else if (policy.hashSource == "source-ip") c.hash = {HashPolicy::Source::kSourceIp, ""};
      c.affinityTimeout = affinityTimeout;
      c.slowStart = std::chrono::milliseconds(policy.slowStartMs);
      c.timeout = std::chrono::milliseconds(policy.timeoutMs);
      c.limits = {policy.maxConnections, policy.maxPendingRequests, policy.maxRequests, policy.maxRetries};
      c.outlier.enabled = policy.outlierConsecutiveErrors > 0;
      c.outlier.consecutiveErrors = std::max(1, policy.outlierConsecutiveErrors);
      c.outlier.baseEjection = std::chrono::milliseconds(policy.outlierBaseEjectionMs);
      c.outlier.maxEjectionPercent = policy.outlierMaxEjectionPercent;
      c.outlier.all5xx = policy.outlierCount5xx;
      c.retry.attempts = policy.retries >= 0 ? policy.retries : 2;
      c.retry.onConnectFailure = policy.retryConnectFailure;
      c.retry.onGatewayError = policy.retryGatewayError;
      c.retry.on5xx = policy.retry5xx;
      c.retry.codes = policy.retryCodes;
      // Ready endpoints of this port (by the port's name; a lone port matches whatever it is called).
      std::string portName = api::stringAt(port, "name");
      if (ep)
        for (const auto& subset : api::arrayAt(*ep, "subsets")) {
          int64_t target = 0;
          const auto& ports = api::arrayAt(subset, "ports");
          for (const auto& p : ports)
            if (api::stringAt(p, "name") == portName || ports.size() == 1) target = intAt(p, "port", 0);
          if (target <= 0) continue;
          for (const auto& a : api::arrayAt(subset, "addresses")) {
            std::string ip = api::stringAt(a, "ip");
            std::string pod = api::stringAt(a, "targetRef.kind") == "Pod" ? api::stringAt(a, "targetRef.name") : "";
            std::string podNs = api::stringAt(a, "targetRef.namespace").empty() ? ns : api::stringAt(a, "targetRef.namespace");
            int64_t realPort = target;
            if (hostPort_ && !pod.empty())
              if (int hp = hostPort_(podNs, pod, int(target)); hp > 0) realPort = hp;
            Endpoint e;
            e.address.sin_family = AF_INET;
            e.address.sin_port = htons(uint16_t(realPort));
            if (inet_pton(AF_INET, ip.c_str(), &e.address.sin_addr) != 1) continue;
            e.text = ip + ":" + std::to_string(realPort);
            e.pod = pod;
            e.port = int(target);
            e.policies = policiesFor(podNs, pod);
            if (mesh && !pod.empty()) {
              auto node = podNode.find(podNs + "/" + pod);
              std::string nodeName = node != podNode.end() ? node->second : api::stringAt(a, "nodeName");
              auto via = meshAddresses.find(nodeName);
              if (nodeName != mesh_.nodeName && via != meshAddresses.end()) {
                e.remote = true;
                e.via = via->second;
                e.viaId = nodeSpiffeId(mesh_.trustDomain, nodeName);
              }
            }
            auto w = podWorkload.find(podNs + "/" + pod);
            e.workload = w != podWorkload.end() ? w->second : (pod.empty() ? "unknown" : pod);
            std::string stateKey = c.name + "|" + e.text;
            auto& es = endpointStates_[stateKey];
            if (!es) {
              es = std::make_shared<EndpointState>();
              es->readySince = now;
            }
            liveEndpoints.insert(stateKey);
            e.state = es;
            c.endpoints.push_back(std::move(e));
          }
        }
      std::sort(c.endpoints.begin(), c.endpoints.end(), [](const Endpoint& a, const Endpoint& b) { return a.text < b.text; });
      int ejected = 0;
      int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
      for (const auto& e : c.endpoints) ejected += e.state->ejectedUntil.load() > nowNs;
      c.state->ejected.store(ejected);
      if (c.lb == LbPolicy::kConsistentHash) buildRing(c);
      clusterIndex[c.name] = int(t.clusters.size());
      t.clusters.push_back(std::move(c));
    }
  }
  // Forget state of what is gone (an endpoint that comes back starts its slow start afresh).
  for (auto it = clusterStates_.begin(); it != clusterStates_.end();) it = liveClusters.count(it->first) ? std::next(it) : clusterStates_.erase(it);
  for (auto it = endpointStates_.begin(); it != endpointStates_.end();) it = liveEndpoints.count(it->first) ? std::next(it) : endpointStates_.erase(it);

  // Listeners by "ip:port"; HTTP listeners collect ranked routes per hostname ("" = any).
  std::map<std::string, Listener> listeners;
  std::map<std::string, std::map<std::string, std::vector<Ranked>>> routesByListenerHost;
  size_t order = 0;
  auto serviceRoute = [&](const std::string& ns, const std::string& name, int cluster) {
    Route r;
    r.name = ns + "/" + name;
    r.backends.push_back({cluster, 1});
    r.totalWeight = 1;
    return r;
  };
  // Service listeners; GAMMA routes attach to them below.
  std::map<std::string, std::vector<std::string>> serviceListeners;  // "ns/name:port" -> listener keys
  for (const auto& svc : src.services) {
    std::string ip = api::stringAt(*svc, "spec.clusterIP"), type = api::stringAt(*svc, "spec.type");
    if (type == "ExternalName") continue;
    std::string ns = api::stringAt(*svc, "metadata.namespace"), name = api::stringAt(*svc, "metadata.name");
    for (const auto& port : api::arrayAt(*svc, "spec.ports")) {
      int64_t number = intAt(port, "port", 0);
      std::string proto = api::stringAt(port, "protocol");
      if (number <= 0 || (!proto.empty() && proto != "TCP" && proto != "UDP")) continue;
      bool udp = proto == "UDP";
      std::string cname = ns + "/" + name + ":" + std::to_string(number) + (udp ? "/UDP" : "");
      int cluster = clusterIndex.count(cname) ? clusterIndex[cname] : -1;
      bool http = !udp && isHttpPort(port);
      auto add = [&](const std::string& addr, int64_t p, bool clusterIp) {
        Listener l;
        l.ip = addr;
        l.port = int(p);
        l.key = (udp ? "udp/" : "") + addr + ":" + std::to_string(p);
        l.clusterIp = clusterIp;
        l.name = ns + "/" + name;
        l.protocol = udp ? Listener::Protocol::kUdp : http ? Listener::Protocol::kHttp : Listener::Protocol::kTcp;
        l.tcpCluster = cluster;
        if (http) routesByListenerHost[l.key][""].push_back({serviceRoute(ns, name, cluster), "~", "~", order++});  // fallback: last
        if (!udp) serviceListeners[cname].push_back(l.key);
        listeners[l.key] = std::move(l);
      };
      if (!ip.empty() && ip != "None") add(ip, number, true);
      int64_t nodePort = intAt(port, "nodePort", 0);
      if ((type == "NodePort" || type == "LoadBalancer") && nodePort > 0) add("0.0.0.0", nodePort, false);
    }
  }

  // GatewayClasses we serve.
  std::set<std::string> ourClasses{"skiff"};
  for (const auto& gc : src.gatewayClasses) {
    std::string name = api::stringAt(*gc, "metadata.name");
    bool ours = api::stringAt(*gc, "spec.controllerName") == kGatewayController;
    if (ours) ourClasses.insert(name);
    else if (name == "skiff") ourClasses.erase("skiff");
    if (ours)
      result.gatewayClassStatus[name] = json::object{
          {"conditions", json::array{condition("Accepted", true, "Accepted", "handled by skiff's node proxy", intAt(*gc, "metadata.generation", 1))}}};
  }

  // Namespace labels, for listeners that take routes from namespaces a selector matches.
  std::unordered_map<std::string, const json::value*> namespaceLabels;
  for (const auto& n : src.namespaces) namespaceLabels[api::stringAt(*n, "metadata.name")] = api::valueAt(*n, "metadata.labels");
  auto namespaceSelected = [&](const json::value* selector, const std::string& ns) {
    if (!selector) return false;  // from: Selector needs one (admission refuses the rest)
    auto parsed = api::LabelSelector::fromObject(*selector);
    if (!parsed) return false;
    auto it = namespaceLabels.find(ns);
    json::value labels = it != namespaceLabels.end() && it->second && it->second->is_object() ? *it->second : json::object{};
    labels.as_object().emplace("kubernetes.io/metadata.name", ns);  // as Kubernetes labels every namespace
    return parsed->matches(&labels);
  };
  // Gateways: listeners on the node; which routes each listener takes.
  struct GatewayListener {
    std::string gateway, name, hostname, key, allowFrom, ns, protocol;
    const json::value* selector = nullptr;  // allowedRoutes.namespaces.selector (from: Selector)
    int port;
    bool ok;
    int attached = 0;
    bool https = false;
    bool terminate = false;  // HTTPS, or TLS with tls.mode Terminate: the listener holds certificates
    std::string problem;  // why it is not accepted (ok false)
    // HTTPS: the certificates its references resolved to, and what was wrong with the others.
    std::vector<ServedCertificate> certificates;
    std::string refReason, refMessage;
  };
  std::map<std::string, std::string> portProtocol;  // listener key -> the Gateway protocol served there
  std::set<std::string> gatewayPorts;               // listener keys a Gateway opened
  std::vector<GatewayListener> gatewayListeners;
  std::map<std::string, const json::value*> gateways;
  for (const auto& gw : src.gateways) {
    if (!ourClasses.count(api::stringAt(*gw, "spec.gatewayClassName"))) continue;
    std::string gkey = keyOf(*gw);
    gateways[gkey] = gw.get();
    std::string address = "0.0.0.0";
    for (const auto& a : api::arrayAt(*gw, "spec.addresses"))
      if (api::stringAt(a, "type").empty() || api::stringAt(a, "type") == "IPAddress") address = api::stringAt(a, "value");
    for (const auto& l : api::arrayAt(*gw, "spec.listeners")) {
      GatewayListener g;
      g.gateway = gkey;
      g.ns = api::stringAt(*gw, "metadata.namespace");
      g.name = api::stringAt(l, "name");
      g.hostname = api::stringAt(l, "hostname");
      g.port = int(intAt(l, "port", 0));
      g.protocol = api::stringAt(l, "protocol");
      g.key = (g.protocol == "UDP" ? "udp/" : "") + address + ":" + std::to_string(g.port);
      g.allowFrom = api::stringAt(l, "allowedRoutes.namespaces.from");
      if (g.allowFrom.empty()) g.allowFrom = "Same";
      g.selector = api::valueAt(l, "allowedRoutes.namespaces.selector");
      g.https = g.protocol == "HTTPS";
      g.terminate = g.https || (g.protocol == "TLS" && api::stringAt(l, "tls.mode") != "Passthrough");  // Terminate is the default
      g.ok = g.port > 0 && (g.protocol == "HTTP" || g.https || g.protocol == "TLS" || g.protocol == "TCP" || g.protocol == "UDP");
      if (!g.ok) g.problem = "protocol " + g.protocol + " is not served (HTTP, HTTPS, TLS, TCP and UDP are)";
      if (g.terminate) g.certificates = listenerCertificates(l, g.ns, src.secrets, src.referenceGrants, g.refReason, g.refMessage);
      // One port speaks one protocol (and a TLS port either terminates or passes through).
      std::string served = g.protocol == "TLS" ? (g.terminate ? "TLS (Terminate)" : "TLS (Passthrough)") : g.protocol;
      if (g.ok && portProtocol.count(g.key) && portProtocol[g.key] != served) {
        g.ok = false;
        g.problem = "port " + std::to_string(g.port) + " is used by another listener with protocol " + portProtocol[g.key];
      } else if (g.ok) {
        portProtocol[g.key] = served;
      }
      Listener::Protocol kind = g.protocol == "TLS"   ? Listener::Protocol::kTls
                                  : g.protocol == "TCP" ? Listener::Protocol::kTcp
                                  : g.protocol == "UDP" ? Listener::Protocol::kUdp
                                                        : Listener::Protocol::kHttp;
      if (g.ok && !listeners.count(g.key)) {
        Listener x;
        x.ip = address;
        x.port = g.port;
        x.key = g.key;
        x.name = "gateway " + gkey + "/" + g.name;
        x.protocol = kind;
        listeners[g.key] = std::move(x);
        gatewayPorts.insert(g.key);
      } else if (g.ok && !gatewayPorts.count(g.key) && (kind != Listener::Protocol::kHttp || listeners[g.key].protocol != Listener::Protocol::kHttp)) {
        g.ok = false;  // the port is a Service's node port
        g.problem = "port " + std::to_string(g.port) + " is a Service's " + (kind == Listener::Protocol::kUdp ? "UDP" : "TCP") + " port";
      }
      gatewayListeners.push_back(g);
    }
  }
  // The route kinds each listener takes (a TLS listener that terminates also takes TCPRoutes).
  auto takes = [](const GatewayListener& gl, std::string_view routeKind) {
    const std::string& protocol = gl.protocol;
    if (routeKind == "HTTPRoute" || routeKind == "GRPCRoute") return protocol == "HTTP" || protocol == "HTTPS";
    if (routeKind == "TLSRoute") return protocol == "TLS";
    if (routeKind == "TCPRoute") return protocol == "TCP" || (protocol == "TLS" && gl.terminate);
    return routeKind == "UDPRoute" && protocol == "UDP";
  };

  // What HTTPRoutes and GRPCRoutes share: backends (problems go to ResolvedRefs), header edits,
  // and attaching to parents (Gateway listeners or Services).
  struct RouteRefs {
    std::string problem, reason = "ResolvedRefs";
  };
  // A backendRef's cluster, or -1 with the problem in `refs`.
  auto resolveService = [&](const json::value& b, const std::string& ns, const char* routeKind, RouteRefs& refs) {
    std::string kind = api::stringAt(b, "kind"), group = api::stringAt(b, "group");
    std::string bns = api::stringAt(b, "namespace").empty() ? ns : api::stringAt(b, "namespace");
    std::string cname = bns + "/" + api::stringAt(b, "name") + ":" + std::to_string(intAt(b, "port", 0)) + (std::string_view(routeKind) == "UDPRoute" ? "/UDP" : "");
    if ((!kind.empty() && kind != "Service") || !group.empty()) {
      refs.reason = "InvalidKind";
      refs.problem = "backendRef " + api::stringAt(b, "name") + ": only Services can be backends";
    } else if (!referenceAllowed(src.referenceGrants, "gateway.networking.k8s.io", routeKind, ns, "", "Service", bns, api::stringAt(b, "name"))) {
      refs.reason = "RefNotPermitted";
      refs.problem = "backendRef " + bns + "/" + api::stringAt(b, "name") + ": a reference to another namespace needs a ReferenceGrant in " + bns + " from " +
                     routeKind + "s in " + ns + " to Services";
    } else if (!services.count(bns + "/" + api::stringAt(b, "name"))) {
      refs.reason = "BackendNotFound";
      refs.problem = "Service " + bns + "/" + api::stringAt(b, "name") + " does not exist";
    } else if (!clusterIndex.count(cname)) {
      refs.reason = "BackendNotFound";
      refs.problem = "Service " + bns + "/" + api::stringAt(b, "name") + " has no port " + std::to_string(intAt(b, "port", 0));
    } else {
      return clusterIndex[cname];
    }
    return -1;
  };
  auto resolveBackends = [&](const json::value& rule, const std::string& ns, const char* routeKind, Route& base, RouteRefs& refs) {
    for (const auto& b : api::arrayAt(rule, "backendRefs")) {
      BackendRef ref;
      ref.weight = uint32_t(intAt(b, "weight", 1));
      ref.cluster = resolveService(b, ns, routeKind, refs);
      base.backends.push_back(ref);
      base.totalWeight += ref.weight;
    }
    if (base.backends.empty()) base.directResponse = 500;
    // RequestMirror filters (HTTPRoute): a mirror whose Service does not resolve is left out (the
    // rule still routes) and reported in ResolvedRefs, as Gateway API asks.
    if (std::string_view(routeKind) != "HTTPRoute") return;
    for (const auto& f : api::arrayAt(rule, "filters")) {
      if (api::stringAt(f, "type") != "RequestMirror") continue;
      const json::value* b = api::valueAt(f, "requestMirror.backendRef");
      if (!b) continue;
      RequestMirror m;
      m.cluster = resolveService(*b, ns, routeKind, refs);
      if (api::valueAt(f, "requestMirror.percent")) {
        m.numerator = uint32_t(intAt(f, "requestMirror.percent", 100));
        m.denominator = 100;
      } else if (api::valueAt(f, "requestMirror.fraction")) {
        m.numerator = uint32_t(intAt(f, "requestMirror.fraction.numerator", 0));
        m.denominator = uint32_t(std::max<int64_t>(1, intAt(f, "requestMirror.fraction.denominator", 100)));
      }
      if (m.cluster >= 0 && m.numerator > 0) base.mirrors.push_back(m);
    }
  };
  auto headerEdits = [](const json::value& filter, Route& base) {
    auto edits = [&](const char* field, HeaderEdit& edit) {
      for (const auto& h : api::arrayAt(filter, std::string(field) + ".set")) edit.set.emplace_back(api::stringAt(h, "name"), api::stringAt(h, "value"));
      for (const auto& h : api::arrayAt(filter, std::string(field) + ".add")) edit.add.emplace_back(api::stringAt(h, "name"), api::stringAt(h, "value"));
      for (const auto& h : api::arrayAt(filter, std::string(field) + ".remove"))
        if (h.is_string()) {
          std::string n(h.get_string());
          for (char& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
          edit.remove.push_back(n);
        }
    };
    std::string type = api::stringAt(filter, "type");
    if (type == "RequestHeaderModifier") edits("requestHeaderModifier", base.requestHeaders);
    else if (type == "ResponseHeaderModifier") edits("responseHeaderModifier", base.responseHeaders);
  };
  auto headerMatches = [](const json::value& match, RouteMatch& rm) {
    for (const auto& h : api::arrayAt(match, "headers")) {
      HeaderMatch hm;
      hm.name = api::stringAt(h, "name");
      for (char& c : hm.name) c = char(std::tolower(static_cast<unsigned char>(c)));
      hm.value = api::stringAt(h, "value");
      if (api::stringAt(h, "type") == "RegularExpression") hm.regex = compile(hm.value);
      rm.headers.push_back(std::move(hm));
    }
  };
  // Attaches a route's rules to each of its parents and returns its status.
  auto attach = [&](const json::value& route, std::string_view routeKind, const std::vector<Route>& routes, const RouteRefs& refs) {
    bool l7 = routeKind == "HTTPRoute" || routeKind == "GRPCRoute";
    std::string ns = api::stringAt(route, "metadata.namespace"), name = api::stringAt(route, "metadata.name");
    int64_t generation = intAt(route, "metadata.generation", 1);
    std::string created = api::stringAt(route, "metadata.creationTimestamp");
    std::vector<std::string> hostnames;
    for (const auto& h : api::arrayAt(route, "spec.hostnames"))
      if (h.is_string()) hostnames.emplace_back(h.get_string());
    json::array parentStatuses;
    for (const auto& parent : api::arrayAt(route, "spec.parentRefs")) {
      std::string kind = api::stringAt(parent, "kind").empty() ? "Gateway" : api::stringAt(parent, "kind");
      std::string pns = api::stringAt(parent, "namespace").empty() ? ns : api::stringAt(parent, "namespace");
      std::string pname = api::stringAt(parent, "name"), section = api::stringAt(parent, "sectionName");
      int64_t pport = intAt(parent, "port", 0);
      bool accepted = false;
      std::string reason = "NoMatchingParent", message;
      if (kind == "Service" && !l7) {
        message = std::string(routeKind) + "s attach to Gateways only";
      } else if (kind == "Service") {
        // GAMMA: the route applies to traffic for the Service's HTTP ports.
        for (const auto& [cname, keys] : serviceListeners) {
          if (!cname.starts_with(pns + "/" + pname + ":")) continue;
          if (pport && !cname.ends_with(":" + std::to_string(pport))) continue;
          for (const auto& key : keys)
            if (listeners[key].protocol == Listener::Protocol::kHttp) {
              accepted = true;
              for (const auto& r : routes) routesByListenerHost[key][""].push_back({r, created, ns + "/" + name, order++});
            }
        }
        if (!accepted) message = "Service " + pns + "/" + pname + " has no HTTP port" + (pport ? " " + std::to_string(pport) : "") + " (name it http or http-*)";
      } else if (!gateways.count(pns + "/" + pname)) {
        message = "Gateway " + pns + "/" + pname + " does not exist or is not of a skiff GatewayClass";
      } else {
        for (auto& gl : gatewayListeners) {
          if (gl.gateway != pns + "/" + pname || !gl.ok) continue;
          if (!section.empty() && gl.name != section) continue;
          if (pport && gl.port != pport) continue;
          if (!takes(gl, routeKind)) {
            reason = "NotAllowedByListeners";
            message = "listener " + gl.name + " (protocol " + gl.protocol + ") does not take " + std::string(routeKind) + "s";
            continue;
          }
          if (gl.allowFrom == "Same" && gl.ns != ns) {
            reason = "NotAllowedByListeners";
            message = "listener " + gl.name + " only takes routes from namespace " + gl.ns;
            continue;
          }
          if (gl.allowFrom == "Selector" && !namespaceSelected(gl.selector, ns)) {
            reason = "NotAllowedByListeners";
            message = "listener " + gl.name + " takes routes from namespaces its selector matches, and " + ns + "'s labels do not";
            continue;
          }
          std::vector<std::string> hosts;
          bool named = l7 || routeKind == "TLSRoute";  // TCP and UDP have no host names
          if (hostnames.empty() || !named) hosts.push_back(named ? gl.hostname : "");
          if (named)
          for (const auto& h : hostnames)
            if (hostnameIntersects(gl.hostname, h)) hosts.push_back(h.starts_with("*.") && !gl.hostname.empty() && !gl.hostname.starts_with("*.") ? gl.hostname : h);
          if (hosts.empty()) {
            reason = "NoMatchingListenerHostname";
            message = "no hostname of the route matches listener " + gl.name;
            continue;
          }
          accepted = true;
          ++gl.attached;
          for (const auto& h : hosts)
            for (const auto& r : routes) routesByListenerHost[gl.key][h].push_back({r, created, ns + "/" + name, order++});
        }
        if (!accepted && message.empty()) message = "no listener of Gateway " + pns + "/" + pname + " matches (sectionName, port)";
      }
      json::object ref{{"group", kind == "Service" ? "" : "gateway.networking.k8s.io"}, {"kind", kind}, {"namespace", pns}, {"name", pname}};
      if (!section.empty()) ref["sectionName"] = section;
      if (pport) ref["port"] = pport;
      json::array conditions{
          condition("Accepted", accepted, accepted ? "Accepted" : reason, accepted ? "attached" : message, generation),
          condition("ResolvedRefs", refs.problem.empty(), refs.problem.empty() ? "ResolvedRefs" : refs.reason,
                    refs.problem.empty() ? "all references resolved" : refs.problem, generation)};
      parentStatuses.push_back(json::object{{"parentRef", ref}, {"controllerName", kGatewayController}, {"conditions", conditions}});
    }
    return json::value(json::object{{"parents", parentStatuses}});
  };

  // Rules to routes, one per match. HTTPRoute: paths, methods, headers, query parameters, filters,
  // timeouts and retries.
  auto httpRules = [&](const json::value& rule, Route& base, std::vector<Route>& routes) {
    if (auto d = api::parseDurationMillis(api::stringAt(rule, "timeouts.request"))) base.timeout = std::chrono::milliseconds(*d);
    if (auto d = api::parseDurationMillis(api::stringAt(rule, "timeouts.backendRequest"))) base.attemptTimeout = std::chrono::milliseconds(*d);
    if (api::valueAt(rule, "retry")) {
      RetryPolicy rp;
      rp.attempts = int(intAt(rule, "retry.attempts", 1));
      for (const auto& c : api::arrayAt(rule, "retry.codes"))
        if (c.is_int64()) rp.codes.push_back(int(c.get_int64()));
      if (auto d = api::parseDurationMillis(api::stringAt(rule, "retry.backoff"))) rp.backoffBase = std::chrono::milliseconds(*d);
      rp.backoffMax = std::max(rp.backoffMax, rp.backoffBase * 10);
      base.retry = rp;
    }
    for (const auto& f : api::arrayAt(rule, "filters")) {
      std::string type = api::stringAt(f, "type");
      headerEdits(f, base);
      if (type == "RequestRedirect") {
        base.redirectStatus = int(intAt(f, "requestRedirect.statusCode", 302));
        base.redirectScheme = api::stringAt(f, "requestRedirect.scheme");
        base.redirectHost = api::stringAt(f, "requestRedirect.hostname");
        base.redirectPort = int(intAt(f, "requestRedirect.port", 0));
        base.redirectPath = pathModifier(f, "requestRedirect.path");
      } else if (type == "URLRewrite") {
        if (std::string h = api::stringAt(f, "urlRewrite.hostname"); !h.empty()) base.rewriteHost = h;
        base.rewritePath = pathModifier(f, "urlRewrite.path");
      }
    }
    for (const auto& m : api::arrayAt(rule, "matches")) {
      RouteMatch rm;
      std::string type = api::stringAt(m, "path.type");
      rm.path = api::stringAt(m, "path.value").empty() ? "/" : api::stringAt(m, "path.value");
      if (type == "Exact") rm.pathType = RouteMatch::Path::kExact;
      else if (type == "RegularExpression") {
        rm.pathType = RouteMatch::Path::kRegex;
        rm.pathRegex = compile(rm.path);
      }
      rm.method = api::stringAt(m, "method");
      headerMatches(m, rm);
      for (const auto& q : api::arrayAt(m, "queryParams")) {
        QueryMatch qm;
        qm.name = api::stringAt(q, "name");
        qm.value = api::stringAt(q, "value");
        if (api::stringAt(q, "type") == "RegularExpression") qm.regex = compile(qm.value);
        rm.query.push_back(std::move(qm));
      }
      Route r = base;
      r.matches.push_back(std::move(rm));
      routes.push_back(std::move(r));
    }
  };
  // GRPCRoute: a gRPC call is a POST to /<service>/<method>, so service and method matches are
  // path matches (an exact path when both are named, which outranks prefixes as in Gateway API's
  // precedence). gRPC needs HTTP/2, so the Services they reach are spoken to over h2c whatever
  // their port is called.
  auto grpcRules = [&](const json::value& rule, Route& base, std::vector<Route>& routes) {
    for (const auto& b : base.backends)
      if (b.cluster >= 0) t.clusters[size_t(b.cluster)].http2 = true;
    for (const auto& f : api::arrayAt(rule, "filters")) headerEdits(f, base);
    for (const auto& m : api::arrayAt(rule, "matches")) {
      RouteMatch rm;
      std::string service = api::stringAt(m, "method.service"), method = api::stringAt(m, "method.method");
      if (api::stringAt(m, "method.type") == "RegularExpression") {
        if (!service.empty() || !method.empty()) {
          rm.pathType = RouteMatch::Path::kRegex;
          rm.path = "/" + (service.empty() ? std::string("[^/]+") : "(?:" + service + ")") + "/" + (method.empty() ? std::string("[^/]+") : "(?:" + method + ")");
          rm.pathRegex = compile(rm.path);
        }
      } else if (!service.empty() && !method.empty()) {
        rm.pathType = RouteMatch::Path::kExact;
        rm.path = "/" + service + "/" + method;
      } else if (!service.empty()) {
        rm.path = "/" + service + "/";
      } else if (!method.empty()) {
        rm.pathType = RouteMatch::Path::kRegex;
        rm.path = "/[^/]+/" + method;
        rm.pathRegex = compile(rm.path);
      }
      headerMatches(m, rm);
      Route r = base;
      r.matches.push_back(std::move(rm));
      routes.push_back(std::move(r));
    }
  };
  // TLSRoute, TCPRoute, UDPRoute: a rule is its backends (TLSRoutes are picked by SNI host name).
  struct RouteKind {
    const char* kind;
    const ObjectList& objects;
    std::function<void(const json::value&, Route&, std::vector<Route>&)> rules;
  };
  for (const RouteKind& k : {RouteKind{"HTTPRoute", src.httpRoutes, httpRules}, RouteKind{"GRPCRoute", src.grpcRoutes, grpcRules},
                             RouteKind{"TLSRoute", src.tlsRoutes, nullptr}, RouteKind{"TCPRoute", src.tcpRoutes, nullptr},
                             RouteKind{"UDPRoute", src.udpRoutes, nullptr}}) {
    for (const auto& obj : k.objects) {
      std::string ns = api::stringAt(*obj, "metadata.namespace"), name = api::stringAt(*obj, "metadata.name");
      std::vector<Route> routes;
      RouteRefs refs;
      const auto& rules = api::arrayAt(*obj, "spec.rules");
      for (size_t ri = 0; ri < rules.size(); ++ri) {
        const json::value& rule = rules[ri];
        Route base;
        base.name = ns + "/" + name + "/" + std::to_string(ri);
        resolveBackends(rule, ns, k.kind, base, refs);
        size_t before = routes.size();
        if (k.rules) k.rules(rule, base, routes);
        if (routes.size() == before) {  // no matches: everything
          Route r = base;
          r.matches.push_back(RouteMatch{});
          routes.push_back(std::move(r));
        }
      }
      result.routeStatus[k.kind][ns + "/" + name] = attach(*obj, k.kind, routes, refs);
    }
  }

  // Gateway status.
  for (const auto& [gkey, gw] : gateways) {
    int64_t generation = intAt(*gw, "metadata.generation", 1);
    json::array ls;
    bool allOk = true;
    for (const auto& gl : gatewayListeners) {
      if (gl.gateway != gkey) continue;
      bool refsOk = gl.refMessage.empty();
      bool programmed = gl.ok && (!gl.terminate || !gl.certificates.empty());
      allOk = allOk && programmed;
      std::string where = "listening on " + gl.key + (gl.terminate ? " (TLS)" : gl.protocol == "TLS" ? " (TLS passthrough)" : "");
      json::array conds{condition("Accepted", gl.ok, gl.ok ? "Accepted" : gl.problem.starts_with("protocol") ? "UnsupportedProtocol" : "PortUnavailable",
                                  gl.ok ? (programmed ? where : "accepted; not listening until it has a certificate (see ResolvedRefs)") : gl.problem, generation),
                        condition("Programmed", programmed, programmed ? "Programmed" : "Invalid",
                                  programmed ? where : gl.ok ? "no usable certificate: " + gl.refMessage : "not served", generation),
                        condition("ResolvedRefs", refsOk, refsOk ? "ResolvedRefs" : gl.refReason, refsOk ? "all references resolved" : gl.refMessage, generation)};
      json::array kinds;
      for (const char* kind : {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"})
        if (takes(gl, kind)) kinds.push_back(json::object{{"group", "gateway.networking.k8s.io"}, {"kind", kind}});
      ls.push_back(json::object{{"name", gl.name}, {"attachedRoutes", gl.attached}, {"supportedKinds", kinds}, {"conditions", conds}});
    }
    std::string address = "0.0.0.0";
    for (const auto& a : api::arrayAt(*gw, "spec.addresses"))
      if (api::stringAt(a, "type").empty() || api::stringAt(a, "type") == "IPAddress") address = api::stringAt(a, "value");
    result.gatewayStatus[gkey] = json::object{
        {"addresses", json::array{json::object{{"type", "IPAddress"}, {"value", address == "0.0.0.0" ? "127.0.0.1" : address}}}},
        {"conditions", json::array{condition("Accepted", true, "Accepted", "handled by skiff's node proxy", generation),
                                   condition("Programmed", allOk, allOk ? "Programmed" : "Invalid", allOk ? "all listeners are served" : "some listeners are not served", generation)}},
        {"listeners", ls}};
  }

  // Ports that terminate TLS (HTTPS, TLS Terminate): the certificates of every Gateway listener on
  // the port, by hostname (SNI).
  auto terminates = [&](const std::string& key) { return portProtocol[key] == "HTTPS" || portProtocol[key] == "TLS (Terminate)"; };
  auto addTls = [&](Listener& l) {
    bool http = l.protocol == Listener::Protocol::kHttp;
    std::vector<ServedCertificate> certificates;
    for (const auto& gl : gatewayListeners)
      if (gl.ok && gl.key == l.key) certificates.insert(certificates.end(), gl.certificates.begin(), gl.certificates.end());
    if (certificates.empty()) return false;  // Programmed=False: the port stays closed
    uint64_t fingerprint = 0;
    for (const auto& c : certificates) fingerprint ^= hash64(c.hostname + '\n' + c.certPem + '\n' + c.keyPem) * 0x9e3779b97f4a7c15ULL;
    fingerprint += http;
    auto& cached = tlsByListener_[l.key];
    if (!cached.second || cached.first != fingerprint) {
      auto tls = TlsTerminator::create(certificates, http);
      if (!tls) {
        log::warn("proxy", "not serving " + l.name + ": " + tls.error().message);
        return false;
      }
      cached = {fingerprint, *tls};
    }
    l.tls = cached.second;
    return true;
  };
  // Assemble HTTP listeners' virtual hosts: a host's own routes first, then those for any host.
  for (auto& [key, l] : listeners) {
    auto it = routesByListenerHost.find(key);
    if (it == routesByListenerHost.end()) {
      if (terminates(key) && !addTls(l)) continue;
      t.listeners.push_back(std::move(l));
      continue;
    }
    auto& byHost = it->second;
    std::vector<Ranked> any = byHost.count("") ? byHost[""] : std::vector<Ranked>{};
    std::stable_sort(any.begin(), any.end(), before);
    for (auto& [host, ranked] : byHost) {
      VirtualHost vh;
      if (!host.empty()) {
        vh.hostnames.push_back(host);
        std::stable_sort(ranked.begin(), ranked.end(), before);
        for (auto& r : ranked) vh.routes.push_back(r.route);
      }
      for (auto& r : any) vh.routes.push_back(r.route);
      l.hosts.push_back(std::move(vh));
    }
    if (terminates(key) && !addTls(l)) continue;
    t.listeners.push_back(std::move(l));
  }
  // The mesh's inbound port, and the pods on this node it may reach.
  if (t.mesh) {
    for (size_t ci = 0; ci < t.clusters.size(); ++ci)
      for (size_t ei = 0; ei < t.clusters[ci].endpoints.size(); ++ei) {
        const Endpoint& e = t.clusters[ci].endpoints[ei];
        auto node = podNode.find(t.clusters[ci].ns + "/" + e.pod);
        if (e.pod.empty() || e.remote || node == podNode.end() || node->second != mesh_.nodeName) continue;
        t.meshTargets.push_back({(uint64_t(e.address.sin_addr.s_addr) << 16) | e.address.sin_port, {int(ci), int(ei)}});
      }
    std::sort(t.meshTargets.begin(), t.meshTargets.end());
    t.meshTargets.erase(std::unique(t.meshTargets.begin(), t.meshTargets.end(), [](const auto& x, const auto& y) { return x.first == y.first; }),
                        t.meshTargets.end());
    Listener l;
    l.ip = "0.0.0.0";
    if (auto self = meshAddresses.find(mesh_.nodeName); self != meshAddresses.end()) {
      char ip[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, &self->second.sin_addr, ip, sizeof ip);
      l.ip = ip;
    }
    l.port = mesh_.port;
    l.key = l.ip + ":" + std::to_string(l.port);
    l.protocol = Listener::Protocol::kMesh;
    l.name = "mesh inbound";
    t.listeners.push_back(std::move(l));
  }
  result.table = std::move(table);
  return result;
}

std::shared_ptr<const MeshTls> RouteBuilder::meshCredentials(const std::set<std::string>& workloadIds, Clock::time_point now) {
  std::set<std::string> wanted = workloadIds;
  wanted.insert(nodeSpiffeId(mesh_.trustDomain, mesh_.nodeName));
  bool changed = !meshTls_;
  for (auto it = identities_.begin(); it != identities_.end();) {
    if (wanted.count(it->first)) {
      ++it;
    } else {
      it = identities_.erase(it);
      changed = true;
    }
  }
  meshError_.clear();
  nextRenewal_ = Clock::time_point::max();
  for (const auto& id : wanted) {
    auto it = identities_.find(id);
    if (it == identities_.end() || now >= it->second.renewAt) {
      auto issued = mesh_.issue(id, mesh_.lifetime);
      if (!issued) {
        meshError_ = "cannot issue the mesh identity " + id + ": " + issued.error().message;
        if (it == identities_.end() || std::chrono::system_clock::now() >= it->second.identity.notAfter) {
          if (it != identities_.end()) identities_.erase(it);
          changed = true;
          continue;
        }
        nextRenewal_ = std::min(nextRenewal_, now + std::chrono::seconds(5));  // keep the old one a little longer
        continue;
      }
      // At half of what was asked, or of what the signer gave when that is less (a CSR signer caps it).
      auto left = std::chrono::duration_cast<Clock::duration>(issued->notAfter - std::chrono::system_clock::now());
      auto renewIn = std::min<Clock::duration>(std::chrono::duration_cast<Clock::duration>(mesh_.lifetime) / 2, left / 2);
      identities_[id] = HeldIdentity{std::move(*issued), now + std::max<Clock::duration>(renewIn, std::chrono::seconds(1))};
      it = identities_.find(id);
      changed = true;
    }
    nextRenewal_ = std::min(nextRenewal_, it->second.renewAt);
  }
  if (!changed) return meshTls_;
  auto node = identities_.find(nodeSpiffeId(mesh_.trustDomain, mesh_.nodeName));
  if (node == identities_.end()) {
    meshTls_ = nullptr;
    return nullptr;
  }
  std::vector<pki::Identity> workloads;
  for (const auto& [id, held] : identities_)
    if (id != node->first) workloads.push_back(held.identity);
  auto tls = MeshTls::create(node->second.identity, workloads, ++meshGeneration_);
  if (!tls) {
    meshError_ = tls.error().message;
    meshTls_ = nullptr;
    return nullptr;
  }
  meshTls_ = *tls;
  return meshTls_;
}

}  // namespace skiff::proxy
