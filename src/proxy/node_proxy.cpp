#include "proxy/node_proxy.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"
#include "common/log.h"
#include "network/netlink.h"
#include "observe/metrics.h"

namespace skiff::proxy {
namespace json = boost::json;
namespace {

// Copies lastTransitionTime from `current` conditions that kept their status, at any depth, so
// an unchanged status compares equal and is not rewritten.
void carryTransitionTimes(json::value& desired, const json::value* current) {
  if (!current) return;
  if (desired.is_object() && current->is_object()) {
    for (auto& kv : desired.get_object()) {
      const json::value* cur = current->get_object().if_contains(kv.key());
      if (kv.key() == "conditions" && kv.value().is_array() && cur && cur->is_array()) {
        for (auto& c : kv.value().get_array()) {
          if (!c.is_object()) continue;
          for (const auto& old : cur->get_array())
            if (api::stringAt(old, "type") == api::stringAt(c, "type") && api::stringAt(old, "status") == api::stringAt(c, "status"))
              c.get_object()["lastTransitionTime"] = api::stringAt(old, "lastTransitionTime");
        }
      } else {
        carryTransitionTimes(kv.value(), cur);
      }
    }
  } else if (desired.is_array() && current->is_array()) {
    auto& d = desired.get_array();
    const auto& c = current->get_array();
    for (size_t i = 0; i < d.size() && i < c.size(); ++i) carryTransitionTimes(d[i], &c[i]);
  }
}

bool isTlsSecret(const json::value& secret) { return api::stringAt(secret, "type") == "kubernetes.io/tls"; }

observe::Histogram& buildDuration() {
  static observe::Family<observe::Histogram> f("skiff_proxy_route_build_duration_seconds",
                                               "Time to rebuild the node proxy's route table from Services, Endpoints and routes.", {},
                                               {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  return f.with({});
}

}  // namespace

NodeProxy::NodeProxy(client::Client& client, NodeProxyInformers informers, NodeProxyOptions options)
    : client_(client), inf_(informers), options_(std::move(options)), data_(options_.data), builder_(options_.hostPort) {
  auto poke = [this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) {
    {
      std::lock_guard lock(mutex_);
      dirty_ = true;
    }
    cv_.notify_one();
  };
  for (client::Informer* i : {&inf_.services, &inf_.endpoints, &inf_.pods, &inf_.gatewayClasses, &inf_.gateways, &inf_.httpRoutes,
                                  &inf_.authorizationPolicies, &inf_.referenceGrants, &inf_.namespaces, &inf_.grpcRoutes, &inf_.tlsRoutes,
                                  &inf_.tcpRoutes, &inf_.udpRoutes, &inf_.ingresses, &inf_.ingressClasses})
    i->addHandler(poke);
  // Of Secrets only certificates matter (HTTPS Gateway listeners).
  inf_.secrets.addHandler([poke](const std::string& key, const client::ObjectPtr& before, const client::ObjectPtr& after) {
    if ((before && isTlsSecret(*before)) || (after && isTlsSecret(*after))) poke(key, before, after);
  });
  // Nodes change every heartbeat; only their addresses matter here (where the mesh dials).
  inf_.nodes.addHandler([poke](const std::string& key, const client::ObjectPtr& before, const client::ObjectPtr& after) {
    const json::value* a = before ? api::valueAt(*before, "status.addresses") : nullptr;
    const json::value* b = after ? api::valueAt(*after, "status.addresses") : nullptr;
    if ((a == nullptr) != (b == nullptr) || (a && *a != *b)) poke(key, before, after);
  });
  builder_.setMesh(options_.mesh);
}

NodeProxy::~NodeProxy() { stop(); }

Status NodeProxy::start() {
  if (Status s = data_.start(); !s) return s;
  thread_ = std::thread([this] { loop(); });
  return {};
}

void NodeProxy::stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  data_.stop();
  if (!options_.bridge.empty()) {
    network::Netlink nl;
    for (const auto& ip : addresses_) (void)nl.deleteAddress(options_.bridge, ip, 32);
  }
  addresses_.clear();
}

void NodeProxy::loop() {
  while (!stopping_) {
    {
      std::unique_lock lock(mutex_);
      // Wake for changes, and when a mesh certificate is due for renewal.
      Clock::time_point renewal;
      {
        std::lock_guard build(buildMutex_);
        renewal = builder_.nextRenewal();
      }
      cv_.wait_until(lock, std::min(Clock::now() + std::chrono::seconds(5), renewal), [this] { return dirty_ || stopping_.load(); });
      if (stopping_) return;
      if (!dirty_ && Clock::now() < renewal) continue;
    }
    // Let a burst of changes (a rollout, a scale-up) land before rebuilding once.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    {
      std::lock_guard lock(mutex_);
      dirty_ = false;
    }
    try {
      rebuild();
    } catch (const std::exception& e) {
      log::error("proxy", std::string("rebuilding routes: ") + e.what());
    }
  }
}

std::chrono::microseconds NodeProxy::rebuild() {
  std::lock_guard lock(buildMutex_);
  auto t0 = Clock::now();
  RouteSources sources{inf_.services.list(),  inf_.endpoints.list(), inf_.pods.list(),
                       inf_.gatewayClasses.list(), inf_.gateways.list(), inf_.httpRoutes.list(),
                       inf_.authorizationPolicies.list(), inf_.nodes.list(), {}, inf_.referenceGrants.list(), inf_.namespaces.list(), inf_.grpcRoutes.list(),
                       inf_.tlsRoutes.list(), inf_.tcpRoutes.list(), inf_.udpRoutes.list()};
  for (auto& secret : inf_.secrets.list())
    if (isTlsSecret(*secret)) sources.secrets.push_back(std::move(secret));
  // Ingresses are served as the Gateway API objects they amount to (proxy/ingress.h).
  IngressObjects ingress = ingressesAsGatewayApi(inf_.ingresses.list(), inf_.ingressClasses.list(), sources.services, options_.ingress);
  sources.gateways.insert(sources.gateways.end(), ingress.gateways.begin(), ingress.gateways.end());
  sources.httpRoutes.insert(sources.httpRoutes.end(), ingress.httpRoutes.begin(), ingress.httpRoutes.end());
  BuildResult result = builder_.build(sources, t0);
  if (builder_.meshError() != lastMeshError_) {
    lastMeshError_ = builder_.meshError();
    if (!lastMeshError_.empty()) log::warn("proxy", lastMeshError_ + "; requests to pods on other nodes fail until it works");
  }
  syncAddresses(*result.table);
  std::shared_ptr<const RouteTable> table = result.table;
  data_.update(table);
  current_ = table;
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  buildDuration().observe(std::chrono::duration<double>(took).count());
  if (options_.writeStatus) {
    writeStatus(result);
    writeIngressStatus(ingress);
  }
  return took;
}

std::map<std::string, double> NodeProxy::podRequestRates() {
  std::shared_ptr<const RouteTable> table;
  {
    std::lock_guard lock(buildMutex_);
    table = current_;
  }
  std::lock_guard lock(ratesMutex_);
  auto now = Clock::now();
  if (!table || now - lastRates_ < std::chrono::seconds(5)) return rates_;
  // A pod may back several Services (clusters): its endpoint states are separate, so add them up.
  std::map<std::string, uint64_t> counts;
  for (const auto& c : table->clusters)
    for (const auto& e : c.endpoints)
      if (!e.pod.empty()) counts[c.ns + "/" + e.pod] += e.state->requests.load(std::memory_order_relaxed);
  double seconds = std::chrono::duration<double>(now - lastRates_).count();
  std::map<std::string, double> rates;
  for (const auto& [pod, n] : counts) {
    auto before = lastCounts_.find(pod);
    rates[pod] = before != lastCounts_.end() && n >= before->second && lastRates_ != Clock::time_point{} ? double(n - before->second) / seconds : 0.0;
  }
  lastCounts_ = std::move(counts);
  rates_ = std::move(rates);
  lastRates_ = now;
  return rates_;
}

void NodeProxy::syncAddresses(const RouteTable& table) {
  if (options_.bridge.empty()) return;
  std::set<std::string> want;
  for (const auto& l : table.listeners)
    if (l.clusterIp) want.insert(l.ip);
  network::Netlink nl;
  for (const auto& ip : want) {
    if (addresses_.count(ip)) continue;
    if (Status s = nl.addAddress(options_.bridge, ip, 32); !s) {
      log::warn("proxy", "cannot serve cluster IP " + ip + ": " + s.error().message);
      continue;
    }
    addresses_.insert(ip);
  }
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    if (want.count(*it)) {
      ++it;
      continue;
    }
    (void)nl.deleteAddress(options_.bridge, *it, 32);
    it = addresses_.erase(it);
  }
}

void NodeProxy::writeStatus(const BuildResult& result) {
  // Listeners the data plane could not open make their Gateway listener un-Programmed.
  auto errors = data_.listenErrors();
  auto write = [&](const char* kind, client::Informer& informer, const std::map<std::string, json::value>& desired) {
    const api::ResourceType& type = informer.type();
    for (const auto& [key, status] : desired) {
      auto [ns, name] = client::splitKey(key);
      if (!type.namespaced) name = key;
      auto current = type.namespaced ? informer.get(ns, name) : informer.get("", name);
      if (!current) continue;
      json::value want = status;
      if (std::string_view(kind) == "Gateway" && !errors.empty()) {
        for (auto& l : want.get_object()["listeners"].get_array()) {
          for (const auto& [lkey, message] : errors) {
            if (message.find("gateway " + key + "/" + api::stringAt(l, "name")) == std::string::npos) continue;
            for (auto* conditions : {&l.get_object()["conditions"], &want.get_object()["conditions"]})
              for (auto& c : conditions->get_array())
                if (api::stringAt(c, "type") == "Programmed") {  // the listener's, and so the Gateway's
                  c.get_object()["status"] = "False";
                  c.get_object()["reason"] = "Invalid";
                  c.get_object()["message"] = message;
                }
          }
        }
      }
      const json::value* cur = api::valueAt(*current, "status");
      carryTransitionTimes(want, cur);
      if (cur && *cur == want) continue;
      auto r = client_.patch(type, type.namespaced ? ns : "", name, client::PatchType::Merge, json::object{{"status", want}}, "status");
      if (!r && r.error().code != 404) log::warn("proxy", std::string("writing status of ") + kind + " " + key + ": " + r.error().message);
    }
  };
  write("GatewayClass", inf_.gatewayClasses, result.gatewayClassStatus);
  write("Gateway", inf_.gateways, result.gatewayStatus);
  for (auto [kind, informer] : {std::pair{"HTTPRoute", &inf_.httpRoutes}, std::pair{"GRPCRoute", &inf_.grpcRoutes}, std::pair{"TLSRoute", &inf_.tlsRoutes},
                                 std::pair{"TCPRoute", &inf_.tcpRoutes}, std::pair{"UDPRoute", &inf_.udpRoutes}})
    if (auto it = result.routeStatus.find(kind); it != result.routeStatus.end()) write(kind, *informer, it->second);
}

// Each Ingress served shows where: the node's address, as k3s's ingress controller reports it.
void NodeProxy::writeIngressStatus(const IngressObjects& ingress) {
  if (options_.ingressAddress.empty()) return;
  json::value want = json::object{{"loadBalancer", json::object{{"ingress", json::array{json::object{{"ip", options_.ingressAddress}}}}}}};
  for (const auto& [gateway, key] : ingress.ingressOfGateway) {
    auto [ns, name] = client::splitKey(key);
    client::ObjectPtr current = inf_.ingresses.get(ns, name);
    if (!current) continue;
    const json::value* have = api::valueAt(*current, "status");
    if (have && *have == want) continue;
    auto r = client_.patch(inf_.ingresses.type(), ns, name, client::PatchType::Merge, json::object{{"status", want}}, "status");
    if (!r && r.error().code != 404) log::warn("proxy", "writing status of Ingress " + key + ": " + r.error().message);
  }
}

}  // namespace skiff::proxy
