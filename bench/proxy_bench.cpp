// Node proxy figures that need a program rather than wrk:
//   proxy_bench route-build --endpoints N [--services S]
//       time to rebuild the route table from S Services sharing N ready endpoints (median of 21)
//   proxy_bench idle-conns --port P --count N [--hold SECONDS]
//       opens N keep-alive connections to 127.0.0.1:P, sends one request on each, reads the
//       answers, then holds them open (for measuring the proxy's memory per idle connection)
//   proxy_bench mesh-pair --mode mtls|plain|one-hop --listen P --backend Q --hop H --seconds S
//       two node proxies (1 worker each) in this process: node A serves 127.0.0.1:P and sends
//       every request to node B (127.0.0.3), which forwards it to the backend 127.0.0.1:Q; between
//       them the mesh's mTLS port H (mtls) or a plain HTTP listener on H (plain); one-hop: node A
//       alone, straight to the backend (the node proxy without the rest of skiff, for profiling)
//   proxy_bench mesh-certs --dir D
//       writes a CA and two identities from it (ca.crt, a.pem, b.pem: certificate then key), for
//       a peer proxy to do the same mTLS hop
//   proxy_bench scrape --port P --data-dir D [--interval-ms 1000] [--seconds S]
//       scrapes https://127.0.0.1:P/metrics as Prometheus does: one kept-alive TLS connection,
//       one GET per interval, for S seconds (token and CA from skiff's data dir D); prints the
//       number of scrapes, the exposition's size and the median and slowest scrape
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"
#include "pki/pki.h"
#include "proxy/http_proxy.h"
#include "proxy/route_builder.h"

namespace json = boost::json;
using skiff::proxy::Clock;

std::map<std::string, std::string> parseArgs(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i + 1 < argc; i += 2) out[std::string(argv[i]).substr(2)] = argv[i + 1];
  return out;
}

int routeBuild(int endpoints, int services) {
  skiff::proxy::RouteSources s;
  int perService = std::max(1, endpoints / services);
  for (int i = 0; i < services; ++i) {
    std::string name = "svc-" + std::to_string(i);
    json::object svc{{"metadata", {{"name", name}, {"namespace", "bench"}}},
                     {"spec", {{"clusterIP", "10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)},
                               {"ports", json::array{json::object{{"name", "http"}, {"port", 80}}}}}}};
    json::array addresses;
    for (int e = 0; e < perService; ++e) {
      int n = i * perService + e;
      std::string ip = "10.244." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1);
      addresses.push_back(json::object{{"ip", ip}, {"targetRef", {{"kind", "Pod"}, {"name", name + "-" + std::to_string(e)}, {"namespace", "bench"}}}});
    }
    json::object ep{{"metadata", {{"name", name}, {"namespace", "bench"}}},
                    {"subsets", json::array{json::object{{"addresses", addresses}, {"ports", json::array{json::object{{"name", "http"}, {"port", 8080}}}}}}}};
    s.services.push_back(std::make_shared<const json::value>(svc));
    s.endpoints.push_back(std::make_shared<const json::value>(ep));
  }
  skiff::proxy::RouteBuilder builder;
  std::vector<double> ms;
  size_t built = 0;
  for (int i = 0; i < 21; ++i) {
    auto t0 = Clock::now();
    auto r = builder.build(s, Clock::now());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    built = 0;
    for (const auto& c : r.table->clusters) built += c.endpoints.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("route-build: services=%d endpoints=%zu build_ms_p50=%.2f build_ms_max=%.2f\n", services, built, ms[ms.size() / 2], ms.back());
  return 0;
}

int idleConns(int port, int count, int hold) {
  rlimit rl{rlim_t(count + 1024), rlim_t(count + 1024)};
  setrlimit(RLIMIT_NOFILE, &rl);
  std::vector<int> fds;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string req = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
  int answered = 0;
  for (int i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::fprintf(stderr, "connection %d failed\n", i);
      return 1;
    }
    if (send(fd, req.data(), req.size(), 0) != ssize_t(req.size())) return 1;
    fds.push_back(fd);
    // Read answers in batches so the proxy is never holding many unread responses.
    if (fds.size() % 200 == 0 || i + 1 == count)
      for (size_t k = fds.size() - (fds.size() % 200 == 0 ? 200 : fds.size() % 200); k < fds.size(); ++k) {
        char buf[512];
        pollfd p{fds[k], POLLIN, 0};
        if (poll(&p, 1, 5000) == 1 && recv(fds[k], buf, sizeof buf, 0) > 0) ++answered;
      }
  }
  std::printf("idle-conns: open=%zu answered=%d; holding for %d s\n", fds.size(), answered, hold);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(hold));
  for (int fd : fds) close(fd);
  return answered == count ? 0 : 1;
}

std::shared_ptr<const json::value> object(const std::string& text) { return std::make_shared<const json::value>(json::parse(text)); }

int meshPair(const std::string& mode, int listen, int backend, int hop, int seconds) {
  using namespace skiff;
  auto ca = pki::CertificateAuthority::ephemeral();
  if (!ca) return 1;
  proxy::RouteSources s;
  std::string port = std::to_string(listen), be = std::to_string(backend), h = std::to_string(hop);
  if (mode == "mtls") {
    // The Service's pod runs on node B; node A reaches it through B's mesh port.
    s.services = {object(R"({"metadata":{"namespace":"bench","name":"web"},"spec":{"clusterIP":"127.0.0.1","ports":[{"name":"http","port":)" + port + "}]}}")};
    s.endpoints = {object(R"({"metadata":{"namespace":"bench","name":"web"},"subsets":[{"addresses":[{"ip":"127.0.0.1","nodeName":"node-b",
        "targetRef":{"kind":"Pod","namespace":"bench","name":"web-0"}}],"ports":[{"name":"http","port":)" + be + "}]}]}")};
    s.pods = {object(R"({"metadata":{"namespace":"bench","name":"web-0"},"spec":{"nodeName":"node-b"},"status":{"podIP":"127.0.0.1"}})")};
    s.nodes = {object(R"({"metadata":{"name":"node-a"},"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.2"}]}})"),
               object(R"({"metadata":{"name":"node-b"},"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.3"}]}})")};
  } else if (mode == "one-hop") {
    // One proxy: the Service's cluster IP straight to the backend (as `skiff up` serves it).
    s.services = {object(R"({"metadata":{"namespace":"bench","name":"web"},"spec":{"clusterIP":"127.0.0.1","ports":[{"name":"http","port":)" + port + "}]}}")};
    s.endpoints = {object(R"({"metadata":{"namespace":"bench","name":"web"},"subsets":[{"addresses":[{"ip":"127.0.0.1"}],"ports":[{"name":"http","port":)" + be + "}]}]}")};
  } else {
    // The same two hops in plain HTTP: A's Service points at B's, B's at the backend.
    s.services = {object(R"({"metadata":{"namespace":"bench","name":"web"},"spec":{"clusterIP":"127.0.0.1","ports":[{"name":"http","port":)" + port + "}]}}"),
                  object(R"({"metadata":{"namespace":"bench","name":"web-b"},"spec":{"clusterIP":"127.0.0.3","ports":[{"name":"http","port":)" + h + "}]}}")};
    s.endpoints = {object(R"({"metadata":{"namespace":"bench","name":"web"},"subsets":[{"addresses":[{"ip":"127.0.0.3"}],"ports":[{"name":"http","port":)" + h + "}]}]}"),
                   object(R"({"metadata":{"namespace":"bench","name":"web-b"},"subsets":[{"addresses":[{"ip":"127.0.0.1"}],"ports":[{"name":"http","port":)" + be + "}]}]}")};
  }
  auto tableFor = [&](const std::string& node, const std::string& keepListenerIp) {
    proxy::RouteBuilder builder;
    proxy::MeshOptions m;
    m.nodeName = node;
    m.port = hop;
    m.issue = [&](const std::string& id, std::chrono::seconds life) { return ca->issue(id, life); };
    if (mode == "mtls") builder.setMesh(m);
    auto table = builder.build(s, Clock::now()).table;
    // One process plays both nodes: each opens only its own listeners.
    std::erase_if(table->listeners, [&](const proxy::Listener& l) { return l.ip != keepListenerIp; });
    return std::shared_ptr<const proxy::RouteTable>(table);
  };
  proxy::ProxyOptions options;
  options.workers = 1;
  proxy::HttpProxy a(options), b(options);
  if (!a.start() || !b.start()) return 1;
  a.update(tableFor("node-a", "127.0.0.1"));
  if (mode != "one-hop") b.update(tableFor("node-b", "127.0.0.3"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto* p : {&a, &b})
    for (const auto& [key, error] : p->listenErrors()) std::fprintf(stderr, "%s\n", error.c_str());
  std::printf("mesh-pair %s: ready\n", mode.c_str());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return 0;
}

int meshCerts(const std::string& dir) {
  auto ca = skiff::pki::CertificateAuthority::ephemeral();
  if (!ca) return 1;
  std::ofstream(dir + "/ca.crt") << ca->certPem();
  for (const char* node : {"a", "b"}) {
    auto id = ca->issue(std::string("spiffe://cluster.local/node/node-") + node, std::chrono::hours(24));
    if (!id) return 1;
    std::ofstream(dir + "/" + node + ".pem") << id->certPem << id->keyPem;
  }
  return 0;
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int scrape(int port, const std::string& dataDir, int intervalMs, int seconds) {
  std::string token = fileText(dataDir + "/token"), ca = fileText(dataDir + "/tls/ca.crt");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  if (token.empty() || ca.empty()) {
    std::fprintf(stderr, "scrape: no token or CA under %s (a skiff data dir)\n", dataDir.c_str());
    return 2;
  }
  skiff::http::Client client("127.0.0.1", uint16_t(port), token, ca);
  std::vector<double> ms;
  size_t bytes = 0;
  auto end = Clock::now() + std::chrono::seconds(seconds);
  for (auto next = Clock::now(); next < end; next += std::chrono::milliseconds(intervalMs)) {
    std::this_thread::sleep_until(next);
    auto t0 = Clock::now();
    auto r = client.request("GET", "/metrics");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "scrape failed: %s\n", r ? ("status " + std::to_string(r->status)).c_str() : r.error().message.c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    bytes = r->body.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("scrapes=%zu bytes=%zu p50_ms=%.3f max_ms=%.3f\n", ms.size(), bytes, ms.empty() ? 0 : ms[ms.size() / 2], ms.empty() ? 0 : ms.back());
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: proxy_bench route-build|idle-conns|mesh-pair|mesh-certs|scrape [--flag value]...\n");
    return 2;
  }
  std::string mode = argv[1];
  auto args = parseArgs(argc, argv);
  auto num = [&](const char* k, int def) { return args.count(k) ? std::atoi(args[k].c_str()) : def; };
  if (mode == "route-build") return routeBuild(num("endpoints", 10000), num("services", 100));
  if (mode == "idle-conns") return idleConns(num("port", 18083), num("count", 10000), num("hold", 5));
  if (mode == "mesh-pair") return meshPair(args["mode"], num("listen", 18190), num("backend", 18080), num("hop", 18195), num("seconds", 3600));
  if (mode == "mesh-certs") return meshCerts(args.count("dir") ? args["dir"] : ".");
  if (mode == "scrape") return scrape(num("port", 16981), args["data-dir"], num("interval-ms", 1000), num("seconds", 6));
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
