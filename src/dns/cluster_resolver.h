// Kubernetes DNS records (the cluster DNS specification) computed from Services and Pods:
//   <svc>.<ns>.svc.<domain>            A: the cluster IP; headless: the ready pods' IPs;
//                                      ExternalName: a CNAME
//   <hostname>.<svc>.<ns>.svc.<domain> A: a pod with that hostname and subdomain (StatefulSets)
//   _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV for each named port
//   <a-b-c-d>.<ns>.pod.<domain>        A: that address
//   <d>.<c>.<b>.<a>.in-addr.arpa       PTR for cluster IPs and pod IPs
// A pure function over a view of the cluster, so it is tested without sockets. Forward names ask
// for one Service and one namespace's pods; only reverse (PTR) lookups walk everything.
#pragma once
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/message.h"

namespace skiff::dns {

using ObjectPtr = std::shared_ptr<const boost::json::value>;

struct ClusterView {
  std::function<ObjectPtr(const std::string& ns, const std::string& name)> service;
  std::function<std::vector<ObjectPtr>(const std::string& ns)> podsIn;
  std::function<std::vector<ObjectPtr>()> allServices, allPods;
  // A view over fixed lists (tests, fuzzing).
  static ClusterView of(std::vector<ObjectPtr> services, std::vector<ObjectPtr> pods);
};

struct Resolution {
  bool forward = false;  // not ours: ask the upstream resolvers
  uint8_t rcode = kNoError;
  std::vector<Record> answers;
};

Resolution resolveClusterName(const Question& question, const ClusterView& cluster, const std::string& domain = "cluster.local");

}  // namespace skiff::dns
