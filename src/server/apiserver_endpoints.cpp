#include "server/apiserver_endpoints.h"

#include <boost/json.hpp>
#include <algorithm>
#include <ctime>
#include <set>

#include "api/object.h"
#include "client/leader_election.h"
#include "common/log.h"

namespace skiff::server {
namespace json = boost::json;
namespace {

constexpr const char* kLabel = "skiff.io/apiserver-endpoint";

const api::ResourceType& leaseType() { return *api::findByKind("coordination.k8s.io/v1", "Lease"); }
const api::ResourceType& endpointsType() { return *api::findByKind("v1", "Endpoints"); }

std::string leaseName(const std::string& address) {
  std::string n = "apiserver-" + address;
  for (char& c : n)
    if (c == '.' || c == ':') c = '-';
  return n;
}

// Seconds since the epoch of a MicroTime/RFC 3339 stamp; 0 when unreadable.
int64_t secondsOf(const std::string& stamp) {
  std::tm tm{};
  if (stamp.size() < 19 || !strptime(stamp.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return int64_t(timegm(&tm));
}

}  // namespace

Status ApiServerEndpoints::reconcile(bool withdrawing) {
  std::string name = leaseName(options_.address);
  if (withdrawing) {
    (void)client_.remove(leaseType(), "kube-system", name);
  } else {
    json::value lease = json::object{
        {"metadata", json::object{{"name", name}, {"namespace", "kube-system"}, {"labels", json::object{{kLabel, "true"}}}}},
        {"spec", json::object{{"holderIdentity", options_.address + ":" + std::to_string(options_.port)},
                              {"leaseDurationSeconds", (options_.expiry.count() + 999) / 1000},
                              {"renewTime", client::microTimeNow()}}}};
    auto r = client_.patch(leaseType(), "kube-system", name, client::PatchType::Merge,
                           json::object{{"spec", lease.at("spec")}, {"metadata", json::object{{"labels", json::object{{kLabel, "true"}}}}}}, "");
    if (!r && r.error().code == 404) r = client_.create(leaseType(), "kube-system", lease);
    if (!r) return r.error();
  }
  client::ListOptions o;
  o.labels = *api::LabelSelector::parse(kLabel);
  auto leases = client_.list(leaseType(), "kube-system", o);
  if (!leases) return leases.error();
  int64_t now = int64_t(std::time(nullptr));
  int64_t expiry = (options_.expiry.count() + 999) / 1000;
  std::set<std::pair<std::string, int64_t>> live;  // (address, port)
  for (const auto& l : leases->items) {
    std::string holder = api::stringAt(l, "spec.holderIdentity");
    auto colon = holder.rfind(':');
    if (colon == std::string::npos) continue;
    if (now - secondsOf(api::stringAt(l, "spec.renewTime")) > expiry) continue;
    live.emplace(holder.substr(0, colon), std::atoll(holder.c_str() + colon + 1));
  }
  if (live.empty()) return {};  // the last server leaving keeps its address: nothing better to say
  // One subset per port (servers normally share it).
  std::map<int64_t, json::array> byPort;
  for (const auto& [address, port] : live) byPort[port].push_back(json::object{{"ip", address}});
  json::array subsets;
  for (auto& [port, addresses] : byPort)
    subsets.push_back(json::object{{"addresses", std::move(addresses)},
                                   {"ports", json::array{json::object{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}}}});
  auto current = client_.get(endpointsType(), "default", "kubernetes");
  if (current && api::valueAt(*current, "subsets") && *api::valueAt(*current, "subsets") == json::value(subsets)) return {};
  if (!current) {
    auto r = client_.create(endpointsType(), "default", json::object{{"metadata", json::object{{"name", "kubernetes"}}}, {"subsets", subsets}});
    if (!r && r.error().reason != "AlreadyExists") return r.error();
    return {};
  }
  auto r = client_.patch(endpointsType(), "default", "kubernetes", client::PatchType::Merge, json::object{{"subsets", subsets}}, "");
  if (!r) return r.error();
  return {};
}

Status ApiServerEndpoints::start() {
  Status first = reconcile();
  std::lock_guard lock(mutex_);
  started_ = true;
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      cv_.wait_for(lock, options_.period, [&] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      if (Status s = reconcile(); !s) log::warn("platform", "publishing this API server in Endpoints default/kubernetes: " + s.error().message);
      lock.lock();
    }
  });
  return first;
}

void ApiServerEndpoints::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)reconcile(true);
}

}  // namespace skiff::server
