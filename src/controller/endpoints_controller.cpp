#include "controller/endpoints_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

EndpointsController::EndpointsController(client::Client& client, client::Informer& services, client::Informer& pods)
    : client_(client), services_(services), pods_(pods),
      loop_("endpoints-controller", [this](const std::string& key) { return reconcile(key); }) {
  services_.addHandler([this](const std::string&, const client::ObjectPtr& s, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*s)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    // Services of the pod's namespace whose selector matches it (before or after the change:
    // a pod that stops matching must leave the endpoints, so recheck all selector services).
    std::string ns = api::stringAt(*pod, "metadata.namespace");
    for (const auto& svc : services_.list(ns))
      if (api::valueAt(*svc, "spec.selector")) loop_.queue().add(client::keyOf(*svc));
  });
}

Result<Requeue> EndpointsController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  const api::ResourceType& epType = *api::findByKind("v1", "Endpoints");
  const api::ResourceType& sliceType = *api::findByKind("discovery.k8s.io/v1", "EndpointSlice");
  client::ObjectPtr svc = services_.get(ns, name);
  const json::value* selectorMap = svc ? api::valueAt(*svc, "spec.selector") : nullptr;
  if (!svc || !selectorMap || !selectorMap->is_object() || selectorMap->get_object().empty()) {
    // Gone, or a service without selector: its endpoints are not ours to manage.
    if (!svc) {
      (void)client_.remove(epType, ns, name);
      (void)client_.remove(sliceType, ns, name);
    }
    return Requeue::done();
  }
  auto selector = api::LabelSelector::fromObject(json::object{{"matchLabels", *selectorMap}});
  if (!selector) return Requeue::done();
  bool publishNotReady = api::valueAt(*svc, "spec.publishNotReadyAddresses") && api::valueAt(*svc, "spec.publishNotReadyAddresses")->is_bool() &&
                         api::valueAt(*svc, "spec.publishNotReadyAddresses")->get_bool();
  json::array ready, notReady, sliceEndpoints;
  json::array ports;
  bool portsResolved = false;
  for (const auto& pod : pods_.list(ns, &*selector)) {
    std::string ip = api::stringAt(*pod, "status.podIP");
    if (ip.empty()) continue;
    bool terminating = api::valueAt(*pod, "metadata.deletionTimestamp") != nullptr;
    std::string phase = api::stringAt(*pod, "status.phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    bool isReady = isPodReady(*pod) && !terminating;
    json::object address{{"ip", ip}, {"nodeName", api::stringAt(*pod, "spec.nodeName")},
                         {"targetRef", json::object{{"kind", "Pod"}, {"namespace", ns}, {"name", api::stringAt(*pod, "metadata.name")},
                                                    {"uid", api::stringAt(*pod, "metadata.uid")}}}};
    if (isReady || publishNotReady) ready.push_back(address);
    else if (!terminating) notReady.push_back(address);
    sliceEndpoints.push_back(json::object{{"addresses", json::array{json::string(ip)}},
                                          {"conditions", json::object{{"ready", isReady || publishNotReady}, {"serving", isPodReady(*pod)},
                                                                      {"terminating", terminating}}},
                                          {"nodeName", api::stringAt(*pod, "spec.nodeName")},
                                          {"targetRef", address["targetRef"]}});
    if (portsResolved) continue;
    // Service ports to the pod's ports: a number, or a container port's name.
    if (const json::value* sp = api::valueAt(*svc, "spec.ports"); sp && sp->is_array())
      for (const auto& p : sp->get_array()) {
        const json::value* target = api::valueAt(p, "targetPort");
        int64_t port = target && target->is_int64() ? target->get_int64() : controller::intAt(p, "port", 0);
        if (target && target->is_string()) {
          port = 0;
          if (const json::value* cs = api::valueAt(*pod, "spec.containers"); cs && cs->is_array())
            for (const auto& c : cs->get_array())
              if (const json::value* cp = api::valueAt(c, "ports"); cp && cp->is_array())
                for (const auto& x : cp->get_array())
                  if (api::stringAt(x, "name") == target->get_string()) port = controller::intAt(x, "containerPort", 0);
        }
        if (port == 0) continue;
        json::object out{{"port", port}, {"protocol", api::stringAt(p, "protocol").empty() ? "TCP" : api::stringAt(p, "protocol")}};
        if (std::string n = api::stringAt(p, "name"); !n.empty()) out["name"] = n;
        ports.push_back(out);
      }
    portsResolved = true;
  }
  json::array subsets;
  if (!ready.empty() || !notReady.empty()) {
    json::object subset{{"ports", ports}};
    if (!ready.empty()) subset["addresses"] = ready;
    if (!notReady.empty()) subset["notReadyAddresses"] = notReady;
    subsets.push_back(subset);
  }
  json::object labels{{"kubernetes.io/service-name", name}};
  json::value endpoints = json::object{{"apiVersion", "v1"}, {"kind", "Endpoints"},
                                       {"metadata", json::object{{"name", name}, {"namespace", ns}, {"labels", labels}}},
                                       {"subsets", subsets}};
  json::object sliceLabels{{"kubernetes.io/service-name", name}, {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}};
  json::value slice = json::object{{"apiVersion", "discovery.k8s.io/v1"}, {"kind", "EndpointSlice"},
                                   {"metadata", json::object{{"name", name}, {"namespace", ns}, {"labels", sliceLabels},
                                                             {"ownerReferences", json::array{makeControllerRef(*svc)}}}},
                                   {"addressType", "IPv4"}, {"endpoints", sliceEndpoints}, {"ports", ports}};
  auto upsert = [&](const api::ResourceType& type, json::value desired, const char* field1, const char* field2) -> Status {
    auto current = client_.get(type, ns, name);
    if (!current) {
      auto r = client_.create(type, ns, desired);
      if (!r && r.error().reason != "AlreadyExists") return r.error();
      return {};
    }
    bool same = true;
    for (const char* f : {field1, field2})
      if (f) {
        const json::value* a = api::valueAt(*current, f);
        const json::value* b = api::valueAt(desired, f);
        same = same && ((!a && !b) || (a && b && *a == *b));
      }
    if (same) return {};
    json::object patch;
    for (const char* f : {field1, field2})
      if (f) patch[f] = api::valueAt(desired, f) ? *api::valueAt(desired, f) : json::value(nullptr);
    auto r = client_.patch(type, ns, name, client::PatchType::Merge, patch, "");
    if (!r && r.error().code != 404) return r.error();
    return {};
  };
  if (Status s = upsert(epType, endpoints, "subsets", nullptr); !s) return s.error();
  if (Status s = upsert(sliceType, slice, "endpoints", "ports"); !s) return s.error();
  return Requeue::done();
}

}  // namespace skiff::controller
