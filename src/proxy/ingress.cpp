#include "proxy/ingress.h"

#include <boost/json.hpp>
#include <set>

#include "api/object.h"

namespace skiff::proxy {
namespace json = boost::json;
namespace {

// The classes skiff serves, and which of them is the default for Ingresses that name none.
struct Classes {
  std::set<std::string> ours;
  std::string defaultClass;  // one of ours marked is-default-class, or ""
};

Classes classesOf(const ObjectList& ingressClasses) {
  Classes c;
  for (const auto& ic : ingressClasses) {
    if (api::stringAt(*ic, "spec.controller") != kIngressController) continue;
    std::string name = api::stringAt(*ic, "metadata.name");
    c.ours.insert(name);
    const json::value* annotations = api::valueAt(*ic, "metadata.annotations");
    if (annotations && annotations->is_object())
      if (const json::value* d = annotations->get_object().if_contains("ingressclass.kubernetes.io/is-default-class");
          d && d->is_string() && d->get_string() == "true")
        c.defaultClass = name;
  }
  return c;
}

std::string classOf(const json::value& ingress) {
  std::string cls = api::stringAt(ingress, "spec.ingressClassName");
  if (cls.empty())
    if (const json::value* a = api::valueAt(ingress, "metadata.annotations"); a && a->is_object())
      if (const json::value* legacy = a->get_object().if_contains("kubernetes.io/ingress.class"); legacy && legacy->is_string())
        cls = std::string(legacy->get_string());
  return cls;
}

// A backend as an HTTPRoute backendRef: the Service port by number (a port name is looked up in
// the Service; unknown, the route names the port 0 and the builder reports the backend missing).
json::object backendRef(const json::value& backend, const std::string& ns, const ObjectList& services) {
  std::string name = api::stringAt(backend, "service.name");
  int64_t port = 0;
  if (const json::value* n = api::valueAt(backend, "service.port.number"); n && n->is_int64()) port = n->get_int64();
  std::string portName = api::stringAt(backend, "service.port.name");
  if (!portName.empty())
    for (const auto& svc : services)
      if (api::stringAt(*svc, "metadata.namespace") == ns && api::stringAt(*svc, "metadata.name") == name)
        for (const auto& p : api::arrayAt(*svc, "spec.ports"))
          if (api::stringAt(p, "name") == portName)
            if (const json::value* n = api::valueAt(p, "port"); n && n->is_int64()) port = n->get_int64();
  return json::object{{"name", name}, {"port", port}};
}

json::object metadata(const std::string& ns, const std::string& name, const json::value& ingress) {
  json::object m{{"namespace", ns}, {"name", name}, {"generation", 1}};
  if (const json::value* ts = api::valueAt(ingress, "metadata.creationTimestamp")) m["creationTimestamp"] = *ts;
  return m;
}

}  // namespace

IngressObjects ingressesAsGatewayApi(const ObjectList& ingresses, const ObjectList& ingressClasses, const ObjectList& services,
                                     const IngressPorts& ports) {
  IngressObjects out;
  Classes classes = classesOf(ingressClasses);
  for (const auto& ing : ingresses) {
    std::string cls = classOf(*ing);
    if (cls.empty()) cls = classes.defaultClass;
    if (!classes.ours.count(cls)) continue;
    std::string ns = api::stringAt(*ing, "metadata.namespace"), name = api::stringAt(*ing, "metadata.name");
    std::string gatewayName = kIngressPrefix + name;

    json::array listeners;
    if (ports.http > 0)
      listeners.push_back(json::object{{"name", "http"}, {"port", ports.http}, {"protocol", "HTTP"}});
    if (ports.https > 0) {
      const auto& tls = api::arrayAt(*ing, "spec.tls");
      for (size_t i = 0; i < tls.size(); ++i) {
        std::string secret = api::stringAt(tls[i], "secretName");
        if (secret.empty()) continue;  // no certificate of its own: nothing to offer by SNI
        json::object cert{{"certificateRefs", json::array{json::object{{"name", secret}}}}};
        const auto& hosts = api::arrayAt(tls[i], "hosts");
        if (hosts.empty()) listeners.push_back(json::object{{"name", "https-" + std::to_string(i)}, {"port", ports.https}, {"protocol", "HTTPS"}, {"tls", cert}});
        for (size_t j = 0; j < hosts.size(); ++j)
          if (hosts[j].is_string())
            listeners.push_back(json::object{{"name", "https-" + std::to_string(i) + "-" + std::to_string(j)},
                                             {"port", ports.https},
                                             {"protocol", "HTTPS"},
                                             {"hostname", hosts[j]},
                                             {"tls", cert}});
      }
    }
    if (listeners.empty()) continue;
    out.gateways.push_back(std::make_shared<const json::value>(json::object{
        {"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "Gateway"}, {"metadata", metadata(ns, gatewayName, *ing)},
        {"spec", json::object{{"gatewayClassName", "skiff"}, {"listeners", std::move(listeners)}}}}));
    out.ingressOfGateway[ns + "/" + gatewayName] = ns + "/" + name;

    json::array parentRefs{json::object{{"name", gatewayName}}};
    auto route = [&](const std::string& routeName, const std::string& host, json::array rules) {
      json::object spec{{"parentRefs", parentRefs}, {"rules", std::move(rules)}};
      if (!host.empty()) spec["hostnames"] = json::array{json::value(host)};
      out.httpRoutes.push_back(std::make_shared<const json::value>(json::object{
          {"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "HTTPRoute"}, {"metadata", metadata(ns, routeName, *ing)}, {"spec", std::move(spec)}}));
    };
    const auto& rules = api::arrayAt(*ing, "spec.rules");
    for (size_t i = 0; i < rules.size(); ++i) {
      json::array routeRules;
      for (const auto& p : api::arrayAt(rules[i], "http.paths")) {
        std::string path = api::stringAt(p, "path");
        if (path.empty()) path = "/";
        json::object match{{"path", json::object{{"type", api::stringAt(p, "pathType") == "Exact" ? "Exact" : "PathPrefix"}, {"value", path}}}};
        const json::value* backend = api::valueAt(p, "backend");
        routeRules.push_back(json::object{{"matches", json::array{match}},
                                          {"backendRefs", json::array{backend ? backendRef(*backend, ns, services) : json::object()}}});
      }
      if (!routeRules.empty()) route(gatewayName + ".rule-" + std::to_string(i), api::stringAt(rules[i], "host"), std::move(routeRules));
    }
    if (const json::value* def = api::valueAt(*ing, "spec.defaultBackend"))
      route(gatewayName + ".default", "", json::array{json::object{{"backendRefs", json::array{backendRef(*def, ns, services)}}}});
  }
  return out;
}

}  // namespace skiff::proxy
