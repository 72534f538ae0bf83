#include "dns/cluster_resolver.h"

#include <arpa/inet.h>

#include "api/object.h"
#include "api/selector.h"

namespace skiff::dns {
namespace json = boost::json;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

std::optional<std::string> ipv4Bytes(const std::string& ip) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

Record aRecord(const std::string& name, const std::string& ip) {
  Record r;
  r.name = name;
  r.type = kA;
  r.data = ipv4Bytes(ip).value_or(std::string(4, '\0'));
  return r;
}

bool podReady(const json::value& pod) {
  if (api::valueAt(pod, "metadata.deletionTimestamp")) return false;
  if (const json::value* conds = api::valueAt(pod, "status.conditions"); conds && conds->is_array())
    for (const auto& c : conds->get_array())
      if (api::stringAt(c, "type") == "Ready") return api::stringAt(c, "status") == "True";
  return false;
}

// Ready pods a service selects (headless answers list them).
std::vector<ObjectPtr> selectedPods(const json::value& svc, const ClusterView& cluster) {
  std::vector<ObjectPtr> out;
  const json::value* sel = api::valueAt(svc, "spec.selector");
  if (!sel || !sel->is_object() || sel->get_object().empty()) return out;
  std::string ns = api::stringAt(svc, "metadata.namespace");
  for (const auto& p : cluster.podsIn(ns)) {
    if (api::stringAt(*p, "status.podIP").empty() || !podReady(*p)) continue;
    const json::value* labels = api::valueAt(*p, "metadata.labels");
    bool match = true;
    for (const auto& kv : sel->get_object()) {
      const json::value* l = labels && labels->is_object() ? labels->get_object().if_contains(kv.key()) : nullptr;
      if (!l || *l != kv.value()) match = false;
    }
    if (match) out.push_back(p);
  }
  return out;
}

}  // namespace

ClusterView ClusterView::of(std::vector<ObjectPtr> services, std::vector<ObjectPtr> pods) {
  auto svcs = std::make_shared<std::vector<ObjectPtr>>(std::move(services));
  auto ps = std::make_shared<std::vector<ObjectPtr>>(std::move(pods));
  ClusterView v;
  v.service = [svcs](const std::string& ns, const std::string& name) -> ObjectPtr {
    for (const auto& s : *svcs)
      if (api::stringAt(*s, "metadata.namespace") == ns && api::stringAt(*s, "metadata.name") == name) return s;
    return nullptr;
  };
  v.podsIn = [ps](const std::string& ns) {
    std::vector<ObjectPtr> out;
    for (const auto& p : *ps)
      if (api::stringAt(*p, "metadata.namespace") == ns) out.push_back(p);
    return out;
  };
  v.allServices = [svcs] { return *svcs; };
  v.allPods = [ps] { return *ps; };
  return v;
}

Resolution resolveClusterName(const Question& q, const ClusterView& cluster, const std::string& domain) {
  Resolution res;
  const std::string& name = q.name;
  auto nx = [&] {
    res.rcode = kNXDomain;
    return res;
  };
  auto wantsA = q.type == kA || q.type == kANY;
  // Reverse lookups of cluster and pod addresses.
  if (name.ends_with(".in-addr.arpa")) {
    auto parts = split(name);
    if (parts.size() != 6) {
      res.forward = true;
      return res;
    }
    std::string ip = parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0];
    for (const auto& s : cluster.allServices())
      if (api::stringAt(*s, "spec.clusterIP") == ip) {
        Record r{name, kPTR, 30,
                 api::stringAt(*s, "metadata.name") + "." + api::stringAt(*s, "metadata.namespace") + ".svc." + domain};
        if (q.type == kPTR || q.type == kANY) res.answers.push_back(r);
        return res;
      }
    for (const auto& p : cluster.allPods())
      if (api::stringAt(*p, "status.podIP") == ip && !api::valueAt(*p, "spec.hostNetwork")) {
        std::string dashed = ip;
        std::replace(dashed.begin(), dashed.end(), '.', '-');
        if (q.type == kPTR || q.type == kANY)
          res.answers.push_back(Record{name, kPTR, 30, dashed + "." + api::stringAt(*p, "metadata.namespace") + ".pod." + domain});
        return res;
      }
    res.forward = true;
    return res;
  }
  if (name != domain && !name.ends_with("." + domain)) {
    res.forward = true;
    return res;
  }
  std::string rest = name == domain ? "" : name.substr(0, name.size() - domain.size() - 1);
  auto parts = rest.empty() ? std::vector<std::string>{} : split(rest);
  if (parts.empty() || (parts.size() == 1 && (parts[0] == "svc" || parts[0] == "pod"))) return res;  // zone apexes exist
  // <a-b-c-d>.<ns>.pod.<domain>
  if (parts.size() == 3 && parts[2] == "pod") {
    std::string ip = parts[0];
    std::replace(ip.begin(), ip.end(), '-', '.');
    if (!ipv4Bytes(ip)) return nx();
    if (wantsA) res.answers.push_back(aRecord(name, ip));
    return res;
  }
  if (parts.back() != "svc" || parts.size() < 3) return nx();
  parts.pop_back();  // now [..., svc, ns]
  std::string ns = parts.back();
  std::string svcName = parts[parts.size() - 2];
  ObjectPtr svcObj = cluster.service(ns, svcName);
  if (!svcObj) return nx();
  const json::value* svc = svcObj.get();
  std::string fqdn = svcName + "." + ns + ".svc." + domain;
  std::string clusterIP = api::stringAt(*svc, "spec.clusterIP");
  bool headless = clusterIP == "None";
  if (parts.size() == 2) {
    if (api::stringAt(*svc, "spec.type") == "ExternalName") {
      res.answers.push_back(Record{name, kCNAME, 30, api::stringAt(*svc, "spec.externalName")});
      return res;
    }
    if (!wantsA) return res;  // the name exists: NODATA for other types
    if (!headless && !clusterIP.empty()) res.answers.push_back(aRecord(name, clusterIP));
    if (headless)
      for (const auto& p : selectedPods(*svc, cluster)) res.answers.push_back(aRecord(name, api::stringAt(*p, "status.podIP")));
    return res;
  }
  if (parts.size() == 4 && parts[0].starts_with("_") && parts[1].starts_with("_")) {
    // _<port>._<proto>.<svc>.<ns>
    std::string portName = parts[0].substr(1), proto = parts[1].substr(1);
    if (const json::value* ports = api::valueAt(*svc, "spec.ports"); ports && ports->is_array())
      for (const auto& p : ports->get_array()) {
        std::string pn = api::stringAt(p, "name");
        std::string pp = api::stringAt(p, "protocol");
        if (pp.empty()) pp = "TCP";
        std::transform(pp.begin(), pp.end(), pp.begin(), ::tolower);
        if (pn != portName || pp != proto) continue;
        if (q.type != kSRV && q.type != kANY) return res;
        Record r{name, kSRV, 30, fqdn};
        r.priority = 0;
        r.weight = 100;
        const json::value* port = api::valueAt(p, "port");
        r.port = uint16_t(port && port->is_int64() ? port->get_int64() : 0);
        res.answers.push_back(r);
        return res;
      }
    return nx();
  }
  if (parts.size() == 3 && headless) {
    // <hostname>.<svc>.<ns>: a pod whose hostname and subdomain say so.
    for (const auto& p : selectedPods(*svc, cluster))
      if (api::stringAt(*p, "spec.hostname") == parts[0] && api::stringAt(*p, "spec.subdomain") == svcName) {
        if (wantsA) res.answers.push_back(aRecord(name, api::stringAt(*p, "status.podIP")));
        return res;
      }
  }
  return nx();
}

}  // namespace skiff::dns
