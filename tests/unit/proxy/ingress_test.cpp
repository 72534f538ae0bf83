// Ingresses become the Gateway API objects they amount to, and RouteBuilder serves those.
#include "proxy/ingress.h"

#include <gtest/gtest.h>

#include "helpers/json_fixtures.h"

#include <boost/json.hpp>

#include "proxy/dataplane.h"

namespace skiff::proxy {
namespace {
namespace json = boost::json;

using test_support::obj;

TEST(Ingress, RulesPathsAndDefaultBackendAsGatewayApi) {
  ObjectList classes = {obj(R"({"metadata":{"name":"skiff","annotations":{"ingressclass.kubernetes.io/is-default-class":"true"}},
                                "spec":{"controller":"skiff.dev/ingress-controller"}})"),
                        obj(R"({"metadata":{"name":"nginx"},"spec":{"controller":"k8s.io/ingress-nginx"}})")};
  ObjectList services = {obj(R"({"metadata":{"name":"web","namespace":"shop"},"spec":{"clusterIP":"10.96.0.10","ports":[{"name":"http","port":80}]}})"),
                         obj(R"({"metadata":{"name":"api","namespace":"shop"},"spec":{"clusterIP":"10.96.0.11","ports":[{"name":"http","port":8080}]}})")};
  ObjectList ingresses = {
      obj(R"({"metadata":{"name":"site","namespace":"shop"},"spec":{
            "tls":[{"hosts":["shop.example"],"secretName":"cert"}],
            "defaultBackend":{"service":{"name":"web","port":{"number":80}}},
            "rules":[{"host":"shop.example","http":{"paths":[
              {"path":"/api","pathType":"Prefix","backend":{"service":{"name":"api","port":{"name":"http"}}}},
              {"path":"/exact","pathType":"Exact","backend":{"service":{"name":"api","port":{"number":8080}}}}]}}]}})"),
      obj(R"({"metadata":{"name":"theirs","namespace":"shop"},"spec":{"ingressClassName":"nginx",
            "rules":[{"host":"x.example","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}})")};
  IngressObjects io = ingressesAsGatewayApi(ingresses, classes, services, {8081, 8443});
  ASSERT_EQ(io.gateways.size(), 1u);  // another controller's class is left alone
  EXPECT_EQ(io.ingressOfGateway.at("shop/skiff-ingress.site"), "shop/site");
  EXPECT_EQ(json::serialize(io.gateways[0]->at("spec").at("listeners")),
            R"([{"name":"http","port":8081,"protocol":"HTTP"},{"name":"https-0-0","port":8443,"protocol":"HTTPS","hostname":"shop.example","tls":{"certificateRefs":[{"name":"cert"}]}}])");
  ASSERT_EQ(io.httpRoutes.size(), 2u);  // the rule, and the default backend

  RouteSources src;
  src.services = services;
  src.gateways = io.gateways;
  src.httpRoutes = io.httpRoutes;
  RouteBuilder b;
  auto result = b.build(src, Clock::now());
  const Listener* http = nullptr;
  for (const auto& l : result.table->listeners)
    if (l.key == "0.0.0.0:8081") http = &l;
  ASSERT_TRUE(http);
  auto to = [&](const char* path, const char* host) {
    RequestView r{"GET", path, "", host, nullptr};
    const Route* route = matchRoute(*http, r);
    if (!route) return std::string("404");
    return route->backends.size() == 1 && route->backends[0].cluster >= 0 ? result.table->clusters[size_t(route->backends[0].cluster)].name
                                                                          : std::string("?");
  };
  EXPECT_EQ(to("/api/items", "shop.example"), "shop/api:8080");  // a port by name
  EXPECT_EQ(to("/exact", "shop.example"), "shop/api:8080");
  EXPECT_EQ(to("/exact/below", "shop.example"), "shop/web:80");  // Exact only; then the default backend
  EXPECT_EQ(to("/anything", "elsewhere.example"), "shop/web:80");
}

}  // namespace
}  // namespace skiff::proxy
