#include "proxy/route_builder.h"

#include "proxy/dataplane.h"

#include "common/base64.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "helpers/json_fixtures.h"

#include <boost/json.hpp>
#include <map>
#include <set>

namespace skiff::proxy {
namespace {
namespace json = boost::json;

using test_support::obj;

RouteSources shop() {
  RouteSources s;
  s.services = {obj(R"({"metadata":{"name":"web","namespace":"shop"},"spec":{"clusterIP":"10.96.0.10","ports":[{"name":"http","port":80}]}})"),
                obj(R"({"metadata":{"name":"api","namespace":"shop","annotations":{"skiff.dev/load-balancer":"least-request","skiff.dev/retries":"3","skiff.dev/retry-on":"gateway-error"}},
                       "spec":{"clusterIP":"10.96.0.11","ports":[{"name":"http-api","port":8080}]}})"),
                obj(R"({"metadata":{"name":"db","namespace":"shop"},"spec":{"clusterIP":"10.96.0.12","type":"NodePort","ports":[{"name":"pg","port":5432,"nodePort":30432}]}})")};
  s.endpoints = {obj(R"({"metadata":{"name":"web","namespace":"shop"},"subsets":[{"addresses":[{"ip":"10.244.0.5","targetRef":{"kind":"Pod","name":"web-7d9f-abc","namespace":"shop"}}],
                                                                          "ports":[{"name":"http","port":8080}]}]})"),
                 obj(R"({"metadata":{"name":"api","namespace":"shop"},"subsets":[{"addresses":[{"ip":"10.244.0.6"},{"ip":"10.244.0.7"}],"ports":[{"name":"http-api","port":9000}]}]})")};
  s.pods = {obj(R"({"metadata":{"name":"web-7d9f-abc","namespace":"shop","labels":{"pod-template-hash":"7d9f"},
                    "ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f","controller":true}]},"status":{"podIP":"10.244.0.5"}})")};
  s.gateways = {obj(R"({"metadata":{"name":"edge","namespace":"shop","generation":1},"spec":{"gatewayClassName":"skiff",
                        "listeners":[{"name":"http","port":8081,"protocol":"HTTP","hostname":"shop.example"},{"name":"tls","port":8443,"protocol":"HTTPS"}]}})")};
  s.httpRoutes = {obj(R"({"metadata":{"name":"front","namespace":"shop","generation":2,"creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{
                          "parentRefs":[{"name":"edge"}],
                          "rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"web","port":80,"weight":90},{"name":"api","port":8080,"weight":10}]},
                                   {"matches":[{"path":{"type":"PathPrefix","value":"/api"}}],"backendRefs":[{"name":"api","port":8080}],"timeouts":{"request":"2s"}},
                                   {"matches":[{"path":{"type":"Exact","value":"/api/login"},"method":"POST"}],"backendRefs":[{"name":"missing","port":80}]}]}})"),
                  obj(R"({"metadata":{"name":"mesh","namespace":"shop","creationTimestamp":"2026-01-02T00:00:00Z"},"spec":{
                          "parentRefs":[{"kind":"Service","group":"","name":"web"}],
                          "rules":[{"matches":[{"headers":[{"name":"X-Canary","value":"1"}]}],"backendRefs":[{"name":"api","port":8080}]}]}})")};
  return s;
}

const Listener* listener(const RouteTable& t, const std::string& key) {
  for (const auto& l : t.listeners)
    if (l.key == key) return &l;
  return nullptr;
}

std::string clusterOf(const RouteTable& t, const Route* r) {
  if (!r) return "404";
  if (r->backends.size() != 1) return "split";
  return r->backends[0].cluster < 0 ? "missing" : t.clusters[size_t(r->backends[0].cluster)].name;
}

TEST(RouteBuilder, ServicesBecomeListenersAndClusters) {
  RouteBuilder b;
  auto result = b.build(shop(), Clock::now());
  const RouteTable& t = *result.table;
  const Listener* web = listener(t, "10.96.0.10:80");
  ASSERT_TRUE(web);
  EXPECT_EQ(web->protocol, Listener::Protocol::kHttp);
  EXPECT_TRUE(web->clusterIp);
  const Listener* db = listener(t, "10.96.0.12:5432");
  ASSERT_TRUE(db);
  EXPECT_EQ(db->protocol, Listener::Protocol::kTcp);
  ASSERT_TRUE(listener(t, "0.0.0.0:30432"));
  ASSERT_EQ(t.clusters.size(), 3u);
  const Cluster& webCluster = t.clusters[0];
  EXPECT_EQ(webCluster.name, "shop/web:80");
  ASSERT_EQ(webCluster.endpoints.size(), 1u);
  EXPECT_EQ(webCluster.endpoints[0].text, "10.244.0.5:8080");  // the target port, not the service port
  EXPECT_EQ(webCluster.endpoints[0].workload, "web");           // ReplicaSet name minus its template hash
  const Cluster& api = t.clusters[1];
  EXPECT_EQ(api.lb, LbPolicy::kLeastRequest);
  EXPECT_EQ(api.retry.attempts, 3);
  EXPECT_TRUE(api.retry.onGatewayError);
  EXPECT_FALSE(api.retry.onConnectFailure);
  in_addr a{};
  inet_pton(AF_INET, "10.244.0.5", &a);
  ASSERT_TRUE(t.workloadOf(a.s_addr));
  EXPECT_EQ(t.workloadOf(a.s_addr)->name, "web");
  EXPECT_EQ(t.workloadOf(a.s_addr)->principal, "cluster.local/ns/shop/sa/default");
}

TEST(RouteBuilder, HttpRouteMatchPrecedenceAndHostnames) {
  RouteBuilder b;
  auto result = b.build(shop(), Clock::now());
  const RouteTable& t = *result.table;
  const Listener* edge = listener(t, "0.0.0.0:8081");
  ASSERT_TRUE(edge);
  auto route = [&](const char* method, const char* path, const char* host) {
    RequestView r{method, path, "", host, nullptr};
    return clusterOf(t, matchRoute(*edge, r));
  };
  EXPECT_EQ(route("GET", "/", "shop.example"), "split");
  EXPECT_EQ(route("GET", "/api/items", "shop.example:8081"), "shop/api:8080");  // longest prefix wins
  EXPECT_EQ(route("POST", "/api/login", "shop.example"), "missing");            // exact beats prefix
  EXPECT_EQ(route("GET", "/api/login", "shop.example"), "shop/api:8080");       // method must match
  EXPECT_EQ(route("GET", "/", "other.example"), "404");                         // listener hostname
  // GAMMA: the route attached to Service web takes matching requests; the service is the fallback.
  const Listener* web = listener(t, "10.96.0.10:80");
  std::vector<http1::Header> canary{{"x-canary", "1"}};
  RequestView withHeader{"GET", "/", "", "web", &canary};
  EXPECT_EQ(clusterOf(t, matchRoute(*web, withHeader)), "shop/api:8080");
  RequestView plain{"GET", "/", "", "web", nullptr};
  EXPECT_EQ(clusterOf(t, matchRoute(*web, plain)), "shop/web:80");
}

TEST(RouteBuilder, UrlRewriteAndRedirectPathsHostsAndPorts) {
  RouteSources src = shop();
  src.httpRoutes = {obj(R"({"metadata":{"name":"paths","namespace":"shop"},"spec":{"parentRefs":[{"name":"edge"}],"rules":[
      {"matches":[{"path":{"type":"PathPrefix","value":"/shop"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"URLRewrite","urlRewrite":{"hostname":"web.internal","path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/store"}}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/strip"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/"}}}]},
      {"matches":[{"path":{"type":"Exact","value":"/health"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath","replaceFullPath":"/healthz"}}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/old"}}],
       "filters":[{"type":"RequestRedirect","requestRedirect":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/new"},"statusCode":301}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/login"}}],
       "filters":[{"type":"RequestRedirect","requestRedirect":{"scheme":"https","hostname":"auth.example","path":{"type":"ReplaceFullPath","replaceFullPath":"/signin"}}}]}]}})")};
  RouteBuilder b;
  auto result = b.build(src, Clock::now());
  const Listener* edge = listener(*result.table, "0.0.0.0:8081");
  ASSERT_TRUE(edge);
  auto at = [&](const char* path) {
    RequestView r{"GET", std::string_view(path).substr(0, std::string_view(path).find('?')), "", "shop.example:8081", nullptr};
    const Route* route = matchRoute(*edge, r);
    EXPECT_TRUE(route) << path;
    return route;
  };
  EXPECT_EQ(dataplane::upstreamTarget(*at("/shop/cart?id=1"), "/shop/cart?id=1"), "/store/cart?id=1");
  EXPECT_EQ(dataplane::upstreamTarget(*at("/shop"), "/shop"), "/store");
  EXPECT_EQ(*at("/shop")->rewriteHost, "web.internal");
  EXPECT_EQ(dataplane::upstreamTarget(*at("/strip/a/b"), "/strip/a/b"), "/a/b");
  EXPECT_EQ(dataplane::upstreamTarget(*at("/strip"), "/strip"), "/");
  EXPECT_EQ(dataplane::upstreamTarget(*at("/health?verbose"), "/health?verbose"), "/healthz?verbose");
  // Redirects: without a scheme the listener's port stays; with one its well-known port is implied.
  const Route* old = at("/old/page?x=1");
  EXPECT_EQ(old->redirectStatus, 301);
  EXPECT_EQ(dataplane::redirectLocation(*old, false, "shop.example:8081", 8081, "/old/page?x=1"), "http://shop.example:8081/new/page?x=1");
  EXPECT_EQ(dataplane::redirectLocation(*old, false, "shop.example", 80, "/old"), "http://shop.example/new");
  const Route* login = at("/login");
  EXPECT_EQ(login->redirectStatus, 302);
  EXPECT_EQ(dataplane::redirectLocation(*login, false, "shop.example:8081", 8081, "/login?next=/cart"), "https://auth.example/signin?next=/cart");
}

TEST(RouteBuilder, RequestMirrorsResolveTheirServiceAndShare) {
  RouteSources src = shop();
  src.httpRoutes = {obj(R"({"metadata":{"name":"mirrored","namespace":"shop"},"spec":{"parentRefs":[{"name":"edge"}],"rules":[
      {"matches":[{"path":{"type":"PathPrefix","value":"/all"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"api","port":8080}}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/some"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"api","port":8080},"percent":20}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"web","port":80},"fraction":{"numerator":1,"denominator":3}}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/none"}}],"backendRefs":[{"name":"web","port":80}],
       "filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"gone","port":80}}}]}]}})")};
  RouteBuilder b;
  auto result = b.build(src, Clock::now());
  const Listener* edge = listener(*result.table, "0.0.0.0:8081");
  ASSERT_TRUE(edge);
  auto at = [&](const char* path) {
    const Route* route = matchRoute(*edge, RequestView{"GET", path, "", "shop.example", nullptr});
    EXPECT_TRUE(route) << path;
    return route;
  };
  auto mirrorName = [&](const RequestMirror& m) { return result.table->clusters[size_t(m.cluster)].name; };
  const Route* all = at("/all");
  ASSERT_EQ(all->mirrors.size(), 1u);
  EXPECT_EQ(mirrorName(all->mirrors[0]), "shop/api:8080");
  EXPECT_EQ(all->mirrors[0].numerator, all->mirrors[0].denominator);
  EXPECT_EQ(clusterOf(*result.table, all), "shop/web:80");
  const Route* some = at("/some");
  ASSERT_EQ(some->mirrors.size(), 2u);
  EXPECT_EQ(some->mirrors[0].numerator, 20u);
  EXPECT_EQ(some->mirrors[0].denominator, 100u);
  EXPECT_EQ(mirrorName(some->mirrors[1]), "shop/web:80");
  EXPECT_EQ(some->mirrors[1].numerator, 1u);
  EXPECT_EQ(some->mirrors[1].denominator, 3u);
  // A mirror whose Service is missing is left out; the rule still routes, and ResolvedRefs says why.
  const Route* none = at("/none");
  EXPECT_TRUE(none->mirrors.empty());
  EXPECT_EQ(clusterOf(*result.table, none), "shop/web:80");
  const auto& conds = result.routeStatus.at("HTTPRoute").at("shop/mirrored").at("parents").as_array()[0].at("conditions").as_array();
  EXPECT_EQ(conds[1].at("status").as_string(), "False");
  EXPECT_EQ(conds[1].at("reason").as_string(), "BackendNotFound");
  EXPECT_EQ(conds[1].at("message").as_string(), "Service shop/gone does not exist");
}

TEST(RouteBuilder, GatewayApiStatus) {
  RouteBuilder b;
  auto result = b.build(shop(), Clock::now());
  const json::value& gw = result.gatewayStatus.at("shop/edge");
  const auto& listeners = gw.at("listeners").as_array();
  ASSERT_EQ(listeners.size(), 2u);
  EXPECT_EQ(listeners[0].at("attachedRoutes").as_int64(), 1);
  // The HTTPS listener names no certificate: accepted, not programmed, and the reference is the problem.
  const auto& tlsConds = listeners[1].at("conditions").as_array();
  EXPECT_EQ(tlsConds[0].at("status").as_string(), "True");
  EXPECT_EQ(tlsConds[1].at("status").as_string(), "False");
  EXPECT_EQ(tlsConds[2].at("reason").as_string(), "InvalidCertificateRef");
  EXPECT_EQ(listener(*result.table, "0.0.0.0:8443"), nullptr);  // no certificate: the port stays closed
  const json::value& front = result.routeStatus.at("HTTPRoute").at("shop/front");
  const auto& conds = front.at("parents").as_array()[0].at("conditions").as_array();
  EXPECT_EQ(conds[0].at("status").as_string(), "True");  // Accepted
  EXPECT_EQ(conds[1].at("status").as_string(), "False");  // ResolvedRefs: Service missing
  EXPECT_EQ(conds[1].at("reason").as_string(), "BackendNotFound");
  EXPECT_EQ(conds[1].at("observedGeneration").as_int64(), 2);
}

TEST(RouteBuilder, GrpcRoutesMatchServiceAndMethodAndSpeakH2cToTheirBackends) {
  RouteSources s = shop();
  s.grpcRoutes = {obj(R"({"metadata":{"name":"rpc","namespace":"shop","generation":3,"creationTimestamp":"2026-01-03T00:00:00Z"},"spec":{
                          "parentRefs":[{"name":"edge","sectionName":"http"}],
                          "rules":[{"matches":[{"method":{"service":"shop.v1.Catalog","method":"Get"}}],"backendRefs":[{"name":"api","port":8080}]},
                                   {"matches":[{"method":{"service":"shop.v1.Catalog"}}],"backendRefs":[{"name":"web","port":80}]},
                                   {"matches":[{"method":{"method":"Check"}}],"backendRefs":[{"name":"api","port":8080}]},
                                   {"matches":[{"method":{"type":"RegularExpression","service":"shop\\.v[0-9]+\\.Orders"},
                                                "headers":[{"name":"X-Tenant","value":"blue"}]}],"backendRefs":[{"name":"web","port":80}]},
                                   {"matches":[{"method":{"service":"shop.v1.Gone"}}],"backendRefs":[{"name":"gone","port":9}]}]}})")};
  RouteBuilder b;
  auto result = b.build(s, Clock::now());
  const RouteTable& t = *result.table;
  const Listener* edge = listener(t, "0.0.0.0:8081");
  ASSERT_TRUE(edge);
  std::vector<http1::Header> blue{{"x-tenant", "blue"}};
  auto route = [&](const char* path, const std::vector<http1::Header>* headers = nullptr) {
    RequestView r{"POST", path, "", "shop.example", headers};
    return clusterOf(t, matchRoute(*edge, r));
  };
  EXPECT_EQ(route("/shop.v1.Catalog/Get"), "shop/api:8080");   // service and method: exact, first
  EXPECT_EQ(route("/shop.v1.Catalog/List"), "shop/web:80");    // service only
  EXPECT_EQ(route("/grpc.health.v1.Health/Check"), "shop/api:8080");  // method only, any service
  EXPECT_EQ(route("/shop.v2.Orders/Place", &blue), "shop/web:80");
  EXPECT_EQ(route("/shop.v2.Orders/Place"), "split");          // header missing: the HTTPRoute's catch-all
  EXPECT_EQ(route("/shop.v1.Gone/X"), "missing");
  EXPECT_EQ(route("/shop.v1.CatalogX/Get"), "split");          // a service is a whole name, not a prefix
  // Backends of GRPCRoutes speak HTTP/2, whatever their Service port is called.
  for (const auto& c : t.clusters) {
    bool grpcBackend = c.name == "shop/web:80" || c.name == "shop/api:8080";
    EXPECT_EQ(c.http2, grpcBackend) << c.name;
  }
  const auto& conds = result.routeStatus.at("GRPCRoute").at("shop/rpc").at("parents").as_array()[0].at("conditions").as_array();
  EXPECT_EQ(conds[0].at("status").as_string(), "True");
  EXPECT_EQ(conds[1].at("reason").as_string(), "BackendNotFound");
  EXPECT_EQ(conds[1].at("observedGeneration").as_int64(), 3);
  // The listener counts it, and says it takes GRPCRoutes.
  const auto& l0 = result.gatewayStatus.at("shop/edge").at("listeners").as_array()[0];
  EXPECT_EQ(l0.at("attachedRoutes").as_int64(), 2);
  EXPECT_NE(json::serialize(l0.at("supportedKinds")).find("GRPCRoute"), std::string::npos);
}

// The listener conditions of Gateway `gw` in a build result, by listener name: "type=reason" list.
std::string listenerConditions(const BuildResult& r, const std::string& gw, const std::string& name) {
  std::string out;
  for (const auto& l : r.gatewayStatus.at(gw).at("listeners").as_array())
    if (l.at("name").as_string() == name)
      for (const auto& c : l.at("conditions").as_array())
        out += std::string(c.at("type").as_string()) + "=" + std::string(c.at("status").as_string()) + ":" + std::string(c.at("reason").as_string()) + " ";
  return out;
}

TEST(RouteBuilder, TlsPassthroughTcpAndUdpListenersTakeTheirRouteKinds) {
  RouteSources s = shop();
  s.services.push_back(obj(R"({"metadata":{"name":"dns","namespace":"shop"},"spec":{"clusterIP":"10.96.0.13","ports":[{"name":"dns","port":53,"protocol":"UDP"}]}})"));
  s.gateways = {obj(R"({"metadata":{"name":"l4","namespace":"shop","generation":1},"spec":{"gatewayClassName":"skiff","listeners":[
                        {"name":"tls","port":9443,"protocol":"TLS","tls":{"mode":"Passthrough"}},
                        {"name":"pg","port":9432,"protocol":"TCP"},
                        {"name":"dns","port":9432,"protocol":"UDP"},
                        {"name":"terminate","port":9444,"protocol":"TLS","tls":{"mode":"Terminate","certificateRefs":[{"name":"x"}]}},
                        {"name":"clash","port":9432,"protocol":"HTTP"}]}})")};
  s.httpRoutes = {obj(R"({"metadata":{"name":"web","namespace":"shop"},"spec":{"parentRefs":[{"name":"l4","sectionName":"tls"}],
                          "rules":[{"backendRefs":[{"name":"web","port":80}]}]}})")};
  s.tlsRoutes = {obj(R"({"metadata":{"name":"sni","namespace":"shop","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"parentRefs":[{"name":"l4"}],
                         "hostnames":["web.example"],"rules":[{"backendRefs":[{"name":"web","port":80}]}]}})"),
                 obj(R"({"metadata":{"name":"wild","namespace":"shop","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"parentRefs":[{"name":"l4"}],
                         "hostnames":["*.api.example"],"rules":[{"backendRefs":[{"name":"api","port":8080}]}]}})")};
  s.tcpRoutes = {obj(R"({"metadata":{"name":"pg","namespace":"shop","creationTimestamp":"2026-01-02T00:00:00Z"},"spec":{"parentRefs":[{"name":"l4","sectionName":"pg"}],
                         "rules":[{"backendRefs":[{"name":"db","port":5432}]}]}})"),
                 obj(R"({"metadata":{"name":"pg-later","namespace":"shop","creationTimestamp":"2026-01-03T00:00:00Z"},"spec":{"parentRefs":[{"name":"l4"}],
                         "rules":[{"backendRefs":[{"name":"web","port":80}]}]}})")};
  s.udpRoutes = {obj(R"({"metadata":{"name":"dns","namespace":"shop"},"spec":{"parentRefs":[{"name":"l4","sectionName":"dns"}],
                         "rules":[{"backendRefs":[{"name":"dns","port":53}]}]}})")};
  RouteBuilder b;
  auto result = b.build(s, Clock::now());
  const RouteTable& t = *result.table;
  auto routed = [&](const Listener* l, const char* serverName) {
    RequestView v{"", "/", "", serverName, nullptr};
    return l ? clusterOf(t, matchRoute(*l, v)) : "no listener";
  };
  const Listener* tls = listener(t, "0.0.0.0:9443");
  ASSERT_TRUE(tls);
  EXPECT_EQ(tls->protocol, Listener::Protocol::kTls);
  EXPECT_EQ(routed(tls, "web.example"), "shop/web:80");
  EXPECT_EQ(routed(tls, "v2.api.example"), "shop/api:8080");
  EXPECT_EQ(routed(tls, "other.example"), "404");
  const Listener* tcp = listener(t, "0.0.0.0:9432");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->protocol, Listener::Protocol::kTcp);
  EXPECT_EQ(tcp->tcpCluster, -1);
  EXPECT_EQ(routed(tcp, ""), "shop/db:5432");  // two TCPRoutes on one port: the older wins
  const Listener* udp = listener(t, "udp/0.0.0.0:9432");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->protocol, Listener::Protocol::kUdp);
  EXPECT_EQ(routed(udp, ""), "shop/dns:53/UDP");
  // Listener conditions: a Terminate listener without a usable certificate stays closed; HTTP
  // cannot share the TCP port.
  EXPECT_NE(listenerConditions(result, "shop/l4", "tls").find("Programmed=True"), std::string::npos);
  EXPECT_NE(listenerConditions(result, "shop/l4", "terminate").find("Accepted=True:Accepted Programmed=False"), std::string::npos)
      << listenerConditions(result, "shop/l4", "terminate");
  EXPECT_EQ(listener(t, "0.0.0.0:9444"), nullptr);
  EXPECT_NE(listenerConditions(result, "shop/l4", "clash").find("Accepted=False:PortUnavailable"), std::string::npos);
  for (const auto& l : result.gatewayStatus.at("shop/l4").at("listeners").as_array())
    if (l.at("name").as_string() == "pg") {
      EXPECT_EQ(l.at("attachedRoutes").as_int64(), 2);
      EXPECT_EQ(json::serialize(l.at("supportedKinds")), R"([{"group":"gateway.networking.k8s.io","kind":"TCPRoute"}])");
    }
  auto accepted = [&](const char* kind, const char* key) {
    const auto& c = result.routeStatus.at(kind).at(key).at("parents").as_array()[0].at("conditions").as_array()[0];
    return std::string(c.at("status").as_string()) + " " + std::string(c.at("reason").as_string()) + " " + std::string(c.at("message").as_string());
  };
  EXPECT_EQ(accepted("TLSRoute", "shop/sni").substr(0, 13), "True Accepted");
  EXPECT_EQ(accepted("UDPRoute", "shop/dns").substr(0, 13), "True Accepted");
  // An HTTPRoute pointed at the TLS listener is not taken, and says why.
  EXPECT_NE(accepted("HTTPRoute", "shop/web").find("False NotAllowedByListeners listener tls (protocol TLS) does not take HTTPRoutes"), std::string::npos)
      << accepted("HTTPRoute", "shop/web");
}

TEST(RouteBuilder, HttpsListenersTakeCertificatesFromSecretsAndGrants) {
  auto ca = pki::CertificateAuthority::ephemeral();
  auto id = ca->issue("spiffe://cluster.local/ns/shop/sa/edge", std::chrono::hours(1));
  std::string secret = R"({"metadata":{"namespace":"NS","name":"NAME"},"type":"kubernetes.io/tls","data":{"tls.crt":")" + base64Encode(id->certPem) +
                       R"(","tls.key":")" + base64Encode(id->keyPem) + R"("}})";
  auto secretIn = [&](const std::string& ns, const std::string& name) {
    std::string text = secret;
    text.replace(text.find("NS"), 2, ns);
    text.replace(text.find("NAME"), 4, name);
    return std::make_shared<const json::value>(json::parse(text));
  };
  RouteSources s = shop();
  s.gateways = {obj(R"({"metadata":{"name":"edge","namespace":"shop","generation":1},"spec":{"gatewayClassName":"skiff","listeners":[
      {"name":"shop","port":8443,"protocol":"HTTPS","hostname":"shop.example.com","tls":{"certificateRefs":[{"name":"shop-cert"}]}},
      {"name":"wild","port":8443,"protocol":"HTTPS","hostname":"*.example.com","tls":{"certificateRefs":[{"name":"wildcard","namespace":"certs"}]}},
      {"name":"gone","port":8443,"protocol":"HTTPS","hostname":"gone.example.com","tls":{"certificateRefs":[{"name":"missing"}]}},
      {"name":"plain","port":8443,"protocol":"HTTP"}]}})")};
  s.secrets = {secretIn("shop", "shop-cert"), secretIn("certs", "wildcard")};
  s.httpRoutes = {obj(R"({"metadata":{"name":"front","namespace":"shop"},"spec":{"parentRefs":[{"name":"edge"}],
      "rules":[{"backendRefs":[{"name":"web","port":80}]},{"matches":[{"path":{"value":"/blog"}}],"backendRefs":[{"name":"blog","namespace":"blog","port":80}]}]}})")};
  s.services.push_back(obj(R"({"metadata":{"name":"blog","namespace":"blog"},"spec":{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80}]}})"));
  RouteBuilder b;
  auto r = b.build(s, Clock::now());
  EXPECT_EQ(listenerConditions(r, "shop/edge", "shop"), "Accepted=True:Accepted Programmed=True:Programmed ResolvedRefs=True:ResolvedRefs ");
  EXPECT_EQ(listenerConditions(r, "shop/edge", "wild"), "Accepted=True:Accepted Programmed=False:Invalid ResolvedRefs=False:RefNotPermitted ");
  EXPECT_EQ(listenerConditions(r, "shop/edge", "gone"), "Accepted=True:Accepted Programmed=False:Invalid ResolvedRefs=False:InvalidCertificateRef ");
  EXPECT_EQ(listenerConditions(r, "shop/edge", "plain"), "Accepted=False:PortUnavailable Programmed=False:Invalid ResolvedRefs=True:ResolvedRefs ");
  const Listener* l = listener(*r.table, "0.0.0.0:8443");
  ASSERT_NE(l, nullptr);
  ASSERT_TRUE(l->tls);
  EXPECT_NE(l->tls->contextFor("shop.example.com"), nullptr);
  EXPECT_EQ(l->tls->contextFor("api.example.com"), nullptr);  // the wildcard's Secret is not granted
  const auto& routeConds = r.routeStatus.at("HTTPRoute").at("shop/front").at("parents").as_array()[0].at("conditions").as_array();
  EXPECT_EQ(routeConds[1].at("reason").as_string(), "RefNotPermitted");  // the blog Service is in another namespace
  // ReferenceGrants in certs (for the Secret) and in blog (for the Service) open both.
  s.referenceGrants = {obj(R"({"metadata":{"namespace":"certs","name":"edge-certs"},"spec":{"from":[{"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":"shop"}],"to":[{"group":"","kind":"Secret"}]}})"),
                       obj(R"({"metadata":{"namespace":"blog","name":"shop-routes"},"spec":{"from":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","namespace":"shop"}],"to":[{"group":"","kind":"Service","name":"blog"}]}})")};
  auto granted = b.build(s, Clock::now());
  EXPECT_EQ(listenerConditions(granted, "shop/edge", "wild"), "Accepted=True:Accepted Programmed=True:Programmed ResolvedRefs=True:ResolvedRefs ");
  l = listener(*granted.table, "0.0.0.0:8443");
  ASSERT_NE(l, nullptr);
  EXPECT_NE(l->tls->contextFor("api.example.com"), nullptr);
  EXPECT_EQ(granted.routeStatus.at("HTTPRoute").at("shop/front").at("parents").as_array()[0].at("conditions").as_array()[1].at("status").as_string(), "True");
  // The same certificates on the next build: the same TLS contexts (no re-parsing per rebuild).
  auto again = b.build(s, Clock::now());
  EXPECT_EQ(listener(*again.table, "0.0.0.0:8443")->tls, l->tls);
}

TEST(RouteBuilder, ListenersTakeRoutesFromNamespacesTheirSelectorMatches) {
  RouteSources s = shop();
  s.gateways = {obj(R"({"metadata":{"name":"edge","namespace":"infra"},"spec":{"gatewayClassName":"skiff","listeners":[
      {"name":"teams","port":8081,"protocol":"HTTP","allowedRoutes":{"namespaces":{"from":"Selector","selector":{"matchLabels":{"team":"shop"}}}}},
      {"name":"named","port":8082,"protocol":"HTTP","allowedRoutes":{"namespaces":{"from":"Selector","selector":{"matchExpressions":[
          {"key":"kubernetes.io/metadata.name","operator":"In","values":["blog"]}]}}}}]}})")};
  s.namespaces = {obj(R"({"metadata":{"name":"shop","labels":{"team":"shop"}}})"), obj(R"({"metadata":{"name":"blog","labels":{"team":"blog"}}})")};
  s.httpRoutes = {obj(R"({"metadata":{"name":"a","namespace":"shop"},"spec":{"parentRefs":[{"name":"edge","namespace":"infra"}],"rules":[{"backendRefs":[{"name":"web","port":80}]}]}})"),
                  obj(R"({"metadata":{"name":"b","namespace":"blog"},"spec":{"parentRefs":[{"name":"edge","namespace":"infra","sectionName":"teams"}],"rules":[]}})"),
                  obj(R"({"metadata":{"name":"c","namespace":"blog"},"spec":{"parentRefs":[{"name":"edge","namespace":"infra","sectionName":"named"}],"rules":[]}})")};
  RouteBuilder b;
  auto r = b.build(s, Clock::now());
  auto accepted = [&](const std::string& route) {
    const auto& c = r.routeStatus.at("HTTPRoute").at(route).at("parents").as_array()[0].at("conditions").as_array()[0];
    return std::string(c.at("reason").as_string()) + ": " + std::string(c.at("message").as_string());
  };
  EXPECT_EQ(accepted("shop/a"), "Accepted: attached");  // team=shop on listener teams (not named: shop is not blog)
  EXPECT_EQ(accepted("blog/b"), "NotAllowedByListeners: listener teams takes routes from namespaces its selector matches, and blog's labels do not");
  EXPECT_EQ(accepted("blog/c"), "Accepted: attached");  // by the name label every namespace has
  const auto& listeners = r.gatewayStatus.at("infra/edge").at("listeners").as_array();
  EXPECT_EQ(listeners[0].at("attachedRoutes").as_int64(), 1);
  EXPECT_EQ(listeners[1].at("attachedRoutes").as_int64(), 1);
}

TEST(RouteBuilder, EndpointStateOutlivesRebuilds) {
  RouteBuilder b;
  auto first = b.build(shop(), Clock::now());
  first.table->clusters[1].endpoints[0].state->ejections = 2;
  auto second = b.build(shop(), Clock::now());
  EXPECT_EQ(second.table->clusters[1].endpoints[0].state->ejections.load(), 2);
  EXPECT_GT(second.table->version, first.table->version);
}

TEST(Authorization, DenyFirstThenAllowBySourceAndOperation) {
  RouteSources s = shop();
  s.pods.push_back(obj(R"({"metadata":{"name":"client","namespace":"store","labels":{}},"spec":{"serviceAccountName":"buyer"},"status":{"podIP":"10.244.0.9"}})"));
  s.authorizationPolicies = {
      obj(R"({"metadata":{"name":"web-allow","namespace":"shop"},"spec":{"selector":{"matchLabels":{"pod-template-hash":"7d9f"}},"rules":[
            {"from":[{"source":{"namespaces":["store"]}}],"to":[{"operation":{"methods":["GET"],"paths":["/items*"],"ports":["8080"]}}]}]}})"),
      obj(R"({"metadata":{"name":"no-admin","namespace":"shop"},"spec":{"action":"DENY","rules":[{"to":[{"operation":{"paths":["*/admin"]}}]}]}})")};
  RouteBuilder b;
  auto t = b.build(s, Clock::now()).table;
  const Endpoint& web = t->clusters[0].endpoints[0];
  ASSERT_EQ(web.policies.size(), 2u);           // selected by labels, and the namespace-wide DENY
  EXPECT_EQ(t->clusters[1].endpoints[0].policies.size(), 1u);  // api pods: only the DENY
  in_addr a{};
  inet_pton(AF_INET, "10.244.0.9", &a);
  const Workload* buyer = t->workloadOf(a.s_addr);
  ASSERT_TRUE(buyer);
  EXPECT_EQ(buyer->principal, "cluster.local/ns/store/sa/buyer");
  auto denied = [&](const Workload* from, const char* method, const char* path, const Endpoint& ep) {
    bool d = false;
    denyingPolicy(t->policies, ep.policies, AuthzRequest{from, method, path, "", ep.port}, d);
    return d;
  };
  EXPECT_FALSE(denied(buyer, "GET", "/items/1", web));
  EXPECT_TRUE(denied(buyer, "POST", "/items/1", web));    // method not allowed
  EXPECT_TRUE(denied(buyer, "GET", "/cart", web));        // path not allowed
  EXPECT_TRUE(denied(nullptr, "GET", "/items/1", web));   // no identity: not from namespace store
  EXPECT_TRUE(denied(buyer, "GET", "/items/admin", web));  // DENY wins over ALLOW
  EXPECT_FALSE(denied(nullptr, "GET", "/", t->clusters[1].endpoints[0]));  // only DENY applies there
  EXPECT_TRUE(denied(nullptr, "GET", "/x/admin", t->clusters[1].endpoints[0]));
}

TEST(RouteBuilder, UdpAndTcpOnTheSamePortAreSeparate) {
  RouteSources s;
  s.services = {obj(R"({"metadata":{"name":"dns","namespace":"kube-system"},"spec":{"clusterIP":"10.96.0.10",
                       "ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"}]}})")};
  s.endpoints = {obj(R"({"metadata":{"name":"dns","namespace":"kube-system"},"subsets":[{"addresses":[{"ip":"10.244.0.3"}],
                        "ports":[{"name":"dns","port":5353,"protocol":"UDP"},{"name":"dns-tcp","port":5354,"protocol":"TCP"}]}]})")};
  RouteBuilder b;
  auto t = b.build(s, Clock::now()).table;
  const Listener* udp = listener(*t, "udp/10.96.0.10:53");
  const Listener* tcp = listener(*t, "10.96.0.10:53");
  ASSERT_TRUE(udp && tcp);
  EXPECT_EQ(udp->protocol, Listener::Protocol::kUdp);
  EXPECT_EQ(tcp->protocol, Listener::Protocol::kTcp);
  EXPECT_EQ(t->clusters[size_t(udp->tcpCluster)].name, "kube-system/dns:53/UDP");
  EXPECT_EQ(t->clusters[size_t(udp->tcpCluster)].endpoints[0].text, "10.244.0.3:5353");
  EXPECT_EQ(t->clusters[size_t(tcp->tcpCluster)].endpoints[0].text, "10.244.0.3:5354");
}

TEST(LoadBalancing, RoundRobinLeastRequestAndConsistentHash) {
  Cluster c;
  c.state = std::make_shared<ClusterState>();
  for (int i = 0; i < 4; ++i) {
    Endpoint e;
    e.text = "10.0.0." + std::to_string(i) + ":80";
    e.state = std::make_shared<EndpointState>();
    c.endpoints.push_back(e);
  }
  uint64_t rng = 42;
  auto now = Clock::now();
  std::map<int, int> rr;
  for (int i = 0; i < 400; ++i) ++rr[pickEndpoint(c, 0, -1, rng, now)];
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rr[i], 100);
  // Least request: the busy endpoint is avoided.
  c.lb = LbPolicy::kLeastRequest;
  c.endpoints[2].state->active = 50;
  std::map<int, int> lr;
  for (int i = 0; i < 400; ++i) ++lr[pickEndpoint(c, 0, -1, rng, now)];
  EXPECT_LT(lr[2], 40);
  // Consistent hash: the same key lands on the same endpoint, different keys spread.
  c.lb = LbPolicy::kConsistentHash;
  c.hash.source = HashPolicy::Source::kHeader;
  buildRing(c);
  int home = pickEndpoint(c, hash64("user-1"), -1, rng, now);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pickEndpoint(c, hash64("user-1"), -1, rng, now), home);
  std::map<int, int> spread;
  for (int i = 0; i < 1000; ++i) ++spread[pickEndpoint(c, hash64("user-" + std::to_string(i)), -1, rng, now)];
  for (int i = 0; i < 4; ++i) EXPECT_GT(spread[i], 150);
  // Ejected endpoints are skipped; a retry avoids the one that failed.
  c.lb = LbPolicy::kRoundRobin;
  c.endpoints[1].state->ejectedUntil = std::chrono::duration_cast<std::chrono::nanoseconds>((now + std::chrono::seconds(30)).time_since_epoch()).count();
  for (int i = 0; i < 40; ++i) {
    int e = pickEndpoint(c, 0, 3, rng, now);
    EXPECT_NE(e, 1);
    EXPECT_NE(e, 3);
  }
}

TEST(LoadBalancing, SlowStartRampsNewEndpoints) {
  Cluster c;
  c.state = std::make_shared<ClusterState>();
  c.slowStart = std::chrono::seconds(60);
  auto now = Clock::now();
  for (int i = 0; i < 2; ++i) {
    Endpoint e;
    e.state = std::make_shared<EndpointState>();
    e.state->readySince = i == 0 ? now - std::chrono::hours(1) : now;  // endpoint 1 just became ready
    c.endpoints.push_back(e);
  }
  uint64_t rng = 7;
  std::map<int, int> n;
  for (int i = 0; i < 2000; ++i) ++n[pickEndpoint(c, 0, -1, rng, now)];
  EXPECT_LT(n[1], 400);  // about 10% of the old one's share at first
  EXPECT_GT(n[1], 50);
}

TEST(LoadBalancing, ClientIpAffinityKeepsEachClientOnItsEndpointUntilTheTimeout) {
  RouteSources sources = shop();
  sources.services.push_back(obj(R"({"metadata":{"name":"cart","namespace":"shop"},"spec":{"clusterIP":"10.96.0.13",
      "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}},"ports":[{"port":80}]}})"));
  auto endpointsWith = [](int count) {
    std::string addresses;
    for (int i = 0; i < count; ++i) addresses += std::string(i ? "," : "") + R"({"ip":"10.244.1.)" + std::to_string(i + 1) + R"("})";
    return obj((R"({"metadata":{"name":"cart","namespace":"shop"},"subsets":[{"addresses":[)" + addresses + R"(],"ports":[{"port":8080}]}]})").c_str());
  };
  RouteBuilder b;
  auto now = Clock::now();
  sources.endpoints.push_back(endpointsWith(3));
  auto first = b.build(sources, now);
  const Cluster* cart = nullptr;
  for (const auto& c : first.table->clusters)
    if (c.name == "shop/cart:80") cart = &c;
  ASSERT_TRUE(cart);
  EXPECT_EQ(cart->affinityTimeout, std::chrono::seconds(60));
  uint64_t rng = 1;
  // Each client sticks; different clients are spread by the cluster's own policy (round robin).
  std::map<uint32_t, std::string> home;
  std::set<std::string> used;
  for (uint32_t client = 1; client <= 30; ++client) {
    int e = pickEndpointFor(*cart, client, 0, -1, rng, now);
    ASSERT_GE(e, 0);
    home[client] = cart->endpoints[size_t(e)].text;
    used.insert(home[client]);
    for (int again = 0; again < 5; ++again)
      EXPECT_EQ(cart->endpoints[size_t(pickEndpointFor(*cart, client, 0, -1, rng, now + std::chrono::seconds(again)))].text, home[client]);
  }
  EXPECT_EQ(used.size(), 3u);
  // A new endpoint (a rebuilt table, the endpoints in another order) takes no one's clients away.
  sources.endpoints.back() = endpointsWith(4);
  auto second = b.build(sources, now + std::chrono::seconds(10));
  for (const auto& c : second.table->clusters)
    if (c.name == "shop/cart:80") cart = &c;
  for (uint32_t client = 1; client <= 30; ++client)
    EXPECT_EQ(cart->endpoints[size_t(pickEndpointFor(*cart, client, 0, -1, rng, now + std::chrono::seconds(20)))].text, home[client]);
  // A retry that excludes the endpoint moves the client, and it sticks to the new one.
  int moved = pickEndpointFor(*cart, 1, 0, 0, rng, now + std::chrono::seconds(21));
  if (cart->endpoints[0].text == home[1]) {
    EXPECT_NE(moved, 0);
    EXPECT_EQ(pickEndpointFor(*cart, 1, 0, -1, rng, now + std::chrono::seconds(22)), moved);
  }
  // Past the timeout since its last request, a client is placed afresh: over 30 clients, round
  // robin over 4 endpoints puts some of them elsewhere.
  int changed = 0;
  for (uint32_t client = 2; client <= 30; ++client)
    changed += cart->endpoints[size_t(pickEndpointFor(*cart, client, 0, -1, rng, now + std::chrono::seconds(200)))].text != home[client];
  EXPECT_GT(changed, 0);
  // A client whose endpoint left the Service goes elsewhere.
  sources.endpoints.back() = endpointsWith(1);
  auto third = b.build(sources, now + std::chrono::seconds(201));
  for (const auto& c : third.table->clusters)
    if (c.name == "shop/cart:80") cart = &c;
  for (uint32_t client = 1; client <= 30; ++client)
    EXPECT_EQ(pickEndpointFor(*cart, client, 0, -1, rng, now + std::chrono::seconds(202)), 0);
}

}  // namespace
}  // namespace skiff::proxy
