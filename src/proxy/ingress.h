// Ingress (networking.k8s.io/v1) as the node proxy serves it. Each Ingress of a class skiff
// serves (controller skiff.dev/ingress-controller; the `skiff` class is the default) becomes the
// Gateway API objects an equivalent configuration would be — as the ingress2gateway tool
// translates them — and RouteBuilder builds those with everything else:
//   - a Gateway of class `skiff` per Ingress, in its namespace: an HTTP listener on the node's
//     ingress HTTP port and, per TLS host, an HTTPS listener on the HTTPS port holding that
//     entry's Secret (chosen by SNI); several Ingresses share the ports;
//   - an HTTPRoute per rule, its host as hostname, with its paths (Exact → Exact; Prefix and
//     ImplementationSpecific → PathPrefix) to their backends (a Service port by number, or by
//     name looked up in the Service);
//   - the default backend as a route for any host, which a host's own rules come before.
// The synthetic objects are never stored; their names start with kIngressPrefix. No annotation
// (rewrite-target, ssl-redirect, ...) is read: plain HTTP stays served next to HTTPS.
#pragma once
#include <map>
#include <string>

#include "proxy/route_builder.h"

namespace skiff::proxy {

inline constexpr const char* kIngressController = "skiff.dev/ingress-controller";
inline constexpr const char* kIngressPrefix = "skiff-ingress.";

struct IngressPorts {
  int http = 80, https = 443;  // 0: that listener is off
};

struct IngressObjects {
  ObjectList gateways, httpRoutes;
  std::map<std::string, std::string> ingressOfGateway;  // synthetic Gateway "ns/name" -> its Ingress "ns/name"
};

// The Gateway API equivalent of the Ingresses skiff serves among `ingresses`.
IngressObjects ingressesAsGatewayApi(const ObjectList& ingresses, const ObjectList& ingressClasses, const ObjectList& services,
                                     const IngressPorts& ports);

}  // namespace skiff::proxy
