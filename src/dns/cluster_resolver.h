// Kubernetes DNS records (the cluster DNS specification) computed from Services and Pods:
//   <svc>.<ns>.svc.<domain>            A: the cluster IP; headless: the ready pods' IPs;
//                                      ExternalName: a CNAME
//   <hostname>.<svc>.<ns>.svc.<domain> A: a pod with that hostname and subdomain (StatefulSets)
//   _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV for each named port
//   <a-b-c-d>.<ns>.pod.<domain>        A: that address
//   <d>.<c>.<b>.<a>.in-addr.arpa       PTR for cluster IPs and pod IPs
// A pure function over snapshots, so it is tested without sockets.
#pragma once
#include <boost/json/value.hpp>
#include <memory>
#include <string>
#include <vector>

#include "dns/message.h"

namespace skiff::dns {

struct ClusterSnapshot {
  std::vector<std::shared_ptr<const boost::json::value>> services, pods;
};

struct Resolution {
  bool forward = false;  // not ours: ask the upstream resolvers
  uint8_t rcode = kNoError;
  std::vector<Record> answers;
};

Resolution resolveClusterName(const Question& question, const ClusterSnapshot& cluster, const std::string& domain = "cluster.local");

}  // namespace skiff::dns
