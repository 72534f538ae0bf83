// skiff_bench: load generator for skiff's API (HTTPS + token) and for etcd's v3 JSON gateway, with
// the same client code on both sides so the comparison measures the servers.
//
//   skiff_bench creates  --kubeconfig K --n N --conc C --size BYTES [--acks FILE] [--prefix P]
//   skiff_bench etcd-puts --endpoint http://127.0.0.1:12379 --n N --conc C --size BYTES
//   skiff_bench etcd-grpc-puts --endpoint 127.0.0.1:2379 --n N --conc C --size BYTES   (etcd's gRPC API,
//                        as etcdctl and kube-apiserver speak it: C threads on one HTTP/2 connection)
//   skiff_bench watch-latency --kubeconfig K --watchers W --rate R --seconds S
//   skiff_bench pods     --kubeconfig K --n N --conc C           (realistic ~1.5 KB pods)
//   skiff_bench list     --kubeconfig K --path /api/v1/pods --repeat R
//
// Every loop is bounded by count or time. Output: one JSON line of results.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "cli/kubeconfig.h"
#include "store/etcd/etcd_rpc.grpc.pb.h"
#include "common/base64.h"
#include "http/http.h"

using namespace skiff;
using Clock = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> parseArgs(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i + 1 < argc; i += 2) out[std::string(argv[i]).substr(2)] = argv[i + 1];
  return out;
}

struct Target {
  std::string host;
  uint16_t port = 0;
  std::string token, ca;
  std::string certPem = {}, keyPem = {};  // a person's kubeconfig (skiff kubeconfig create) instead of a token
};

// A client of the target with its credentials (token or client certificate).
std::unique_ptr<http::Client> clientOf(const Target& t) {
  auto c = std::make_unique<http::Client>(t.host, t.port, t.token, t.ca);
  if (!t.certPem.empty() && t.token.empty()) c->setClientCertificate(t.certPem, t.keyPem);
  return c;
}

Target fromKubeconfig(const std::string& path) {
  auto kc = cli::loadKubeconfig(path);
  if (!kc) {
    std::fprintf(stderr, "%s\n", kc.error().message.c_str());
    std::exit(2);
  }
  auto hp = http::parseHostPort(kc->server, 6443);
  return Target{hp->first, hp->second, kc->token, kc->caPem, kc->certPem, kc->keyPem};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

// Runs `conc` threads, each issuing its share of n requests built by makeRequest(i) on its own
// keep-alive connection. Returns per-request latencies in ms.
struct LoadResult {
  std::vector<double> latencies;
  double seconds = 0;
  size_t errors = 0;
  std::string firstError;
};

LoadResult runLoad(const Target& t, size_t n, size_t conc,
                   const std::function<std::pair<std::string, std::string>(size_t)>& makeRequest,  // path, body
                   const std::string& contentType, std::ofstream* acks,
                   const std::function<std::string(size_t)>& ackName) {
  LoadResult out;
  std::mutex m;
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < conc; ++c)
    threads.emplace_back([&] {
      auto clientPtr = clientOf(t);
      http::Client& client = *clientPtr;
      std::vector<double> lat;
      while (true) {
        size_t i = next++;
        if (i >= n) break;
        auto [path, body] = makeRequest(i);
        auto t0 = Clock::now();
        auto r = client.request("POST", path, body, contentType);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r || r->status >= 300) {
          std::lock_guard lock(m);
          if (out.errors++ == 0) out.firstError = r ? std::to_string(r->status) + " " + r->body.substr(0, 200) : r.error().message;
          if (!r) break;  // server gone: stop this client
          continue;
        }
        lat.push_back(ms);
        if (acks) {
          std::lock_guard lock(m);
          *acks << ackName(i) << "\n";
          acks->flush();
        }
      }
      std::lock_guard lock(m);
      out.latencies.insert(out.latencies.end(), lat.begin(), lat.end());
    });
  for (auto& th : threads) th.join();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

void report(const char* mode, LoadResult& r, size_t conc, size_t size) {
  double rate = double(r.latencies.size()) / r.seconds;
  double p50 = percentile(r.latencies, 0.5), p99 = percentile(r.latencies, 0.99);
  std::printf("{\"mode\":\"%s\",\"ok\":%zu,\"errors\":%zu,\"conc\":%zu,\"size\":%zu,\"seconds\":%.3f,\"per_second\":%.1f,"
              "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
              mode, r.latencies.size(), r.errors, conc, size, r.seconds, rate, p50, p99);
  if (r.errors) std::fprintf(stderr, "first error: %s\n", r.firstError.c_str());
}

// The resourceVersion of a list, so a watch can start right after it ("" if unavailable).
std::string listRevision(http::Client& c, const std::string& path) {
  auto list = c.request("GET", path);
  if (!list || list->status != 200) return "";
  auto pos = list->body.find("\"resourceVersion\":\"");
  if (pos == std::string::npos) return "";
  return list->body.substr(pos + 19, list->body.find('"', pos + 19) - pos - 19);
}

std::string filler(size_t size) { return std::string(size, 'x'); }

std::string podJson(const std::string& name) {
  // About 1.5 KB stored, like a typical small pod: labels, annotations, two containers, env, probes.
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","labels":{"app":"shop","tier":"backend","pod-template-hash":"5d8f7b9c4"},"annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"9090"}},"spec":{"nodeName":"bench-node","containers":[{"name":"app","image":"registry.local/shop/catalog:1.4.2","ports":[{"name":"http","containerPort":8080}],"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"DB_HOST","value":"db.shop.svc.cluster.local"}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"128Mi"}},"readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":5},"livenessProbe":{"httpGet":{"path":"/healthz","port":8080}}},{"name":"sidecar","image":"registry.local/tools/log-shipper:2.1","args":["--input=/var/log/app","--format=json"],"volumeMounts":[{"name":"logs","mountPath":"/var/log/app"}]}],"volumes":[{"name":"logs","emptyDir":{}}]}})";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: skiff_bench creates|etcd-puts|watch-latency|pods|list [--flag value ...]\n");
    return 2;
  }
  std::string mode = argv[1];
  auto args = parseArgs(argc, argv);
  auto num = [&](const char* k, size_t d) { return args.count(k) ? size_t(std::stoull(args[k])) : d; };
  size_t n = num("n", 10000), conc = num("conc", 16), size = num("size", 256);

  if (mode == "custom-creates") {
    // Objects of bench/run-crd.sh's Widget kind (bench.skiff.dev/v1): 40 typed spec fields the
    // schema checks (patterns, enums, bounds, formats, list types), padded to --size bytes of body.
    Target t = fromKubeconfig(args["kubeconfig"]);
    std::string prefix = args.count("prefix") ? args["prefix"] : "w" + std::to_string(::getpid());
    std::string ns = args.count("namespace") ? args["namespace"] : "default";
    std::string fields;
    for (int f = 0; f < 10; ++f) {
      char buf[256];
      std::snprintf(buf, sizeof buf, R"("name%02d":"item-%02d","count%02d":%d,"mode%02d":"%s","tags%02d":["a%d","b%d"],)", f, f, f, f + 1, f,
                    f % 2 ? "fast" : "safe", f, f, f);
      fields += buf;
    }
    auto name = [&](size_t i) { return prefix + "-" + std::to_string(i); };
    auto body = [&](size_t i) {
      std::string head = R"({"apiVersion":"bench.skiff.dev/v1","kind":"Widget","metadata":{"name":")" + name(i) + R"("},"spec":{)" + fields;
      std::string tail = R"("owner":"team@example.com","created":"2026-01-01T00:00:00Z","note":")";
      size_t used = head.size() + tail.size() + 3;
      return head + tail + filler(size > used ? size - used : 1) + R"("}})";
    };
    auto make = [&](size_t i) { return std::make_pair("/apis/bench.skiff.dev/v1/namespaces/" + ns + "/widgets", body(i)); };
    auto r = runLoad(t, n, conc, make, "application/json", nullptr, name);
    report(mode.c_str(), r, conc, body(0).size());
    return r.errors ? 1 : 0;
  }

  if (mode == "creates" || mode == "pods") {
    Target t = fromKubeconfig(args["kubeconfig"]);
    std::string prefix = args.count("prefix") ? args["prefix"] : "b" + std::to_string(::getpid());
    std::string ns = args.count("namespace") ? args["namespace"] : "default";
    std::unique_ptr<std::ofstream> acks;
    if (args.count("acks")) acks = std::make_unique<std::ofstream>(args["acks"], std::ios::app);
    std::string data = filler(size);
    auto name = [&](size_t i) { return prefix + "-" + std::to_string(i); };
    std::function<std::pair<std::string, std::string>(size_t)> make;
    if (mode == "pods")
      make = [&](size_t i) { return std::make_pair("/api/v1/namespaces/" + ns + "/pods", podJson(name(i))); };
    else
      make = [&](size_t i) {
        return std::make_pair("/api/v1/namespaces/" + ns + "/configmaps",
                              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name(i) +
                                  R"("},"data":{"v":")" + data + R"("}})");
      };
    auto r = runLoad(t, n, conc, make, "application/json", acks.get(), name);
    report(mode.c_str(), r, conc, mode == "pods" ? podJson("x").size() : size);
    return r.errors && !acks ? 1 : 0;
  }

  if (mode == "etcd-puts") {
    auto hp = http::parseHostPort(args.count("endpoint") ? args["endpoint"] : "http://127.0.0.1:12379", 2379);
    Target t{hp->first, hp->second, "", ""};
    std::string value = base64Encode(filler(size));
    std::string prefix = "/bench/" + std::to_string(::getpid()) + "/";
    auto make = [&](size_t i) {
      return std::make_pair(std::string("/v3/kv/put"),
                            R"({"key":")" + base64Encode(prefix + std::to_string(i)) + R"(","value":")" + value + R"("})");
    };
    auto r = runLoad(t, n, conc, make, "application/json", nullptr, [](size_t) { return std::string(); });
    report("etcd-puts", r, conc, size);
    return r.errors ? 1 : 0;
  }

  if (mode == "etcd-grpc-puts") {
    std::string endpoint = args.count("endpoint") ? args["endpoint"] : "127.0.0.1:2379";
    auto channel = grpc::CreateChannel("dns:///" + endpoint, grpc::InsecureChannelCredentials());
    auto kv = etcdserverpb::KV::NewStub(channel);
    std::string value = filler(size), prefix = "/bench/" + std::to_string(::getpid()) + "/";
    LoadResult r;
    std::mutex m;
    std::atomic<size_t> next{0};
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (size_t c = 0; c < conc; ++c)
      threads.emplace_back([&] {
        std::vector<double> lat;
        for (size_t i; (i = next++) < n;) {
          etcdserverpb::PutRequest req;
          req.set_key(prefix + std::to_string(i));
          req.set_value(value);
          etcdserverpb::PutResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          auto t0 = Clock::now();
          grpc::Status st = kv->Put(&ctx, req, &resp);
          if (!st.ok()) {
            std::lock_guard lock(m);
            if (r.errors++ == 0) r.firstError = st.error_message();
            continue;
          }
          lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        std::lock_guard lock(m);
        r.latencies.insert(r.latencies.end(), lat.begin(), lat.end());
      });
    for (auto& th : threads) th.join();
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    report("etcd-grpc-puts", r, conc, size);
    return r.errors ? 1 : 0;
  }

  if (mode == "watch-latency") {
    Target t = fromKubeconfig(args["kubeconfig"]);
    size_t watchers = num("watchers", 100), rate = num("rate", 1000), seconds = num("seconds", 10);
    std::string prefix = "w" + std::to_string(::getpid()) + "-";
    // Ack times by object number; watchers look them up when the event arrives.
    size_t total = rate * seconds;
    std::vector<std::atomic<int64_t>> ackedAt(total);
    std::vector<std::atomic<int64_t>> sentAt(total);
    for (auto& a : ackedAt) a = 0;
    for (auto& a : sentAt) a = 0;
    std::vector<double> fromSent;
    std::mutex m;
    std::vector<double> latencies;
    std::atomic<size_t> ready{0};
    std::atomic<bool> stop{false};
    auto nowNs = [] { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); };
    // Start after the current revision so only new writes arrive.
    http::Client probe(t.host, t.port, t.token, t.ca);
    std::string rv = listRevision(probe, "/api/v1/namespaces/default/configmaps?limit=1");
    std::vector<std::thread> threads;
    for (size_t w = 0; w < watchers; ++w)
      threads.emplace_back([&] {
        http::Client c(t.host, t.port, t.token, t.ca);
        std::string buffer;
        std::vector<double> mine, mineSent;
        bool counted = false;
        auto status = c.stream("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=" + rv + "&timeoutSeconds=" +
                                   std::to_string(seconds + 10),
                               {}, [&](std::string_view data) {
                                 if (!counted) { counted = true; }
                                 int64_t arrived = nowNs();
                                 buffer.append(data);
                                 size_t nl;
                                 while ((nl = buffer.find('\n')) != std::string::npos) {
                                   // Find the object's name without a full parse: "name":"w<pid>-<i>"
                                   size_t p = buffer.find("\"name\":\"" + prefix);
                                   if (p != std::string::npos && p < nl) {
                                     size_t i = std::strtoull(buffer.c_str() + p + 8 + prefix.size(), nullptr, 10);
                                     if (i < total) {
                                       // The event often arrives before the writer has even read
                                       // its response: then ack-to-event is 0 (counted as such).
                                       int64_t acked = ackedAt[i].load();
                                       mine.push_back(acked ? std::max(0.0, double(arrived - acked) / 1e6) : 0.0);
                                       mineSent.push_back(double(arrived - sentAt[i].load()) / 1e6);
                                     }
                                   }
                                   buffer.erase(0, nl + 1);
                                 }
                                 return !stop.load() || mine.size() < total;
                               });
        (void)status;
        std::lock_guard lock(m);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
        fromSent.insert(fromSent.end(), mineSent.begin(), mineSent.end());
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + watchers * 5));  // let the watches open
    // Writers: 16 connections, paced to `rate` per second overall.
    std::atomic<size_t> next{0};
    std::atomic<size_t> writeErrors{0};
    auto start = Clock::now();
    std::vector<std::thread> writers;
    for (int wi = 0; wi < 16; ++wi)
      writers.emplace_back([&] {
        http::Client c(t.host, t.port, t.token, t.ca);
        while (true) {
          size_t i = next++;
          if (i >= total) break;
          auto due = start + std::chrono::microseconds(int64_t(i * 1000000 / rate));
          std::this_thread::sleep_until(due);
          std::string body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + prefix + std::to_string(i) + R"("},"data":{"v":"x"}})";
          sentAt[i] = nowNs();
          auto r = c.request("POST", "/api/v1/namespaces/default/configmaps", body);
          if (r && r->status == 201) ackedAt[i] = nowNs();
          else ++writeErrors;
        }
      });
    for (auto& w : writers) w.join();
    double writeSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop = true;
    // Watches end at their timeoutSeconds; a final write wakes any that are idle.
    for (auto& th : threads) th.join();
    double p50 = percentile(latencies, 0.5), p99 = percentile(latencies, 0.99);
    double s50 = percentile(fromSent, 0.5), s99 = percentile(fromSent, 0.99);
    std::printf("{\"mode\":\"watch-latency\",\"watchers\":%zu,\"target_rate\":%zu,\"achieved_write_rate\":%.1f,"
                "\"events_expected\":%zu,\"events_received\":%zu,\"write_errors\":%zu,\"ack_to_event_p50_ms\":%.3f,"
                "\"ack_to_event_p99_ms\":%.3f,\"sent_to_event_p50_ms\":%.3f,\"sent_to_event_p99_ms\":%.3f}\n",
                watchers, rate, double(total) / writeSeconds, total * watchers, latencies.size(), writeErrors.load(), p50, p99,
                s50, s99);
    return 0;
  }

  if (mode == "startup") {
    // Time from exec of `skiff up` to its API answering /healthz over TLS, on a warm data dir
    // (the first run creates the CA and is reported separately).
    std::string binary = args["binary"], dir = args["data-dir"];
    uint16_t port = uint16_t(num("port", 16999));
    size_t runs = num("runs", 20);
    std::vector<double> warm;
    double cold = 0;
    for (size_t r = 0; r <= runs; ++r) {
      auto t0 = Clock::now();
      pid_t pid = fork();
      if (pid == 0) {
        int devnull = ::open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        std::string listen = "127.0.0.1:" + std::to_string(port);
        execl(binary.c_str(), binary.c_str(), "up", "--data-dir", dir.c_str(), "--listen", listen.c_str(), nullptr);
        _exit(127);
      }
      double ms = -1;
      std::string ca;
      while (std::chrono::duration<double>(Clock::now() - t0).count() < 10) {
        if (ca.empty()) {
          std::ifstream in(dir + "/tls/ca.crt");
          std::stringstream ss;
          ss << in.rdbuf();
          ca = ss.str();
          if (ca.find("END CERTIFICATE") == std::string::npos) {
            ca.clear();
            continue;
          }
        }
        http::Client c("127.0.0.1", port, "", ca);
        auto resp = c.request("GET", "/healthz");
        if (resp && resp->status == 200) {
          ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          break;
        }
      }
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
      if (ms < 0) {
        std::fprintf(stderr, "skiff did not answer within 10 s\n");
        return 1;
      }
      if (r == 0) cold = ms;
      else warm.push_back(ms);
    }
    double p50 = percentile(warm, 0.5), best = *std::min_element(warm.begin(), warm.end());
    std::printf("{\"mode\":\"startup\",\"runs\":%zu,\"cold_first_start_ms\":%.2f,\"warm_median_ms\":%.2f,\"warm_best_ms\":%.2f,\"warm_p90_ms\":%.2f}\n",
                runs, cold, p50, best, percentile(warm, 0.9));
    return 0;
  }

  if (mode == "schedule") {
    // Creates n pods (a third plain, a third with a zone nodeSelector, a third with required and
    // preferred node affinity) and measures, from a watch, when each gets its node.
    Target t = fromKubeconfig(args["kubeconfig"]);
    std::string prefix = "s" + std::to_string(::getpid()) + "-";
    std::vector<std::atomic<int64_t>> createdAt(n), boundAt(n);
    for (size_t i = 0; i < n; ++i) createdAt[i] = boundAt[i] = 0;
    auto nowNs = [] { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); };
    std::atomic<size_t> bound{0};
    std::atomic<bool> done{false};
    http::Client probe(t.host, t.port, t.token, t.ca);
    std::string rv = listRevision(probe, "/api/v1/pods?limit=1");
    std::thread watcher([&] {
      http::Client c(t.host, t.port, t.token, t.ca);
      std::string buffer;
      auto st = c.stream("/api/v1/pods?watch=1&resourceVersion=" + rv + "&timeoutSeconds=600", {}, [&](std::string_view data) {
        int64_t arrived = nowNs();
        buffer.append(data);
        size_t nl;
        while ((nl = buffer.find('\n')) != std::string::npos) {
          std::string_view line(buffer.data(), nl);
          size_t p = line.find("\"name\":\"" + prefix);
          if (p != std::string_view::npos && line.find("\"nodeName\":\"") != std::string_view::npos) {
            size_t i = std::strtoull(line.data() + p + 8 + prefix.size(), nullptr, 10);
            int64_t expected = 0;
            if (i < n && boundAt[i].compare_exchange_strong(expected, arrived)) ++bound;
          }
          buffer.erase(0, nl + 1);
        }
        return !done.load() && bound.load() < n;
      });
      (void)st;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto start = Clock::now();
    // API latency under the load, as Kubernetes' SLOs measure it: single-object GET, LIST of 500,
    // and CREATE, each every 100 ms from its own connection while pods are created and scheduled.
    std::map<std::string, std::vector<double>> apiLatency;
    std::thread prober([&] {
      http::Client c(t.host, t.port, t.token, t.ca);
      for (int i = 0; !done.load(); ++i) {
        auto timed = [&](const std::string& verb, const std::string& method, const std::string& path, const std::string& body) {
          auto t0 = Clock::now();
          auto r = c.request(method, path, body);
          if (r && r->status < 300) apiLatency[verb].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        };
        timed("get", "GET", "/api/v1/namespaces/default/pods/" + prefix + "0", "");
        timed("list", "GET", "/api/v1/namespaces/default/pods?limit=500", "");
        timed("create", "POST", "/api/v1/namespaces/default/configmaps",
              R"({"metadata":{"name":"probe-)" + std::to_string(::getpid()) + "-" + std::to_string(i) + R"("}})");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    auto make = [&](size_t i) {
      std::string spec;
      if (i % 3 == 1) spec = R"("nodeSelector":{"topology.kubernetes.io/zone":"zone-)" + std::to_string(i % 2) + R"("},)";
      if (i % 3 == 2)
        spec = R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"NotIn","values":["zone-2"]}]}]},"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"preference":{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-1"]}]}}]}},)";
      return std::make_pair(std::string("/api/v1/namespaces/default/pods"),
                            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + prefix + std::to_string(i) +
                                R"(","labels":{"app":"sched"}},"spec":{)" + spec +
                                R"("containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}})");
    };
    std::atomic<size_t> next{0};
    std::vector<std::thread> creators;
    for (size_t c = 0; c < conc; ++c)
      creators.emplace_back([&] {
        http::Client client(t.host, t.port, t.token, t.ca);
        while (true) {
          size_t i = next++;
          if (i >= n) break;
          auto [path, body] = make(i);
          auto r = client.request("POST", path, body);
          if (r && r->status == 201) {
            int64_t expected = 0;
            createdAt[i].compare_exchange_strong(expected, nowNs());
          }
        }
      });
    for (auto& c : creators) c.join();
    double createSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    auto deadline = Clock::now() + std::chrono::seconds(num("timeout", 300));
    while (bound.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    double totalSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    done = true;
    // Wake the watch with one more write so the stream thread notices `done`.
    (void)probe.request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"generateName":"wake-"}})");
    watcher.join();
    prober.join();
    for (auto& [verb, lat] : apiLatency)
      std::printf("{\"mode\":\"api-latency-under-load\",\"verb\":\"%s\",\"samples\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f}\n",
                  verb.c_str(), lat.size(), percentile(lat, 0.5), percentile(lat, 0.99));
    std::vector<double> latency;
    int64_t firstCreate = INT64_MAX, lastBind = 0;
    for (size_t i = 0; i < n; ++i) {
      if (createdAt[i] && boundAt[i]) latency.push_back(std::max(0.0, double(boundAt[i] - createdAt[i]) / 1e6));
      if (createdAt[i]) firstCreate = std::min<int64_t>(firstCreate, createdAt[i]);
      lastBind = std::max<int64_t>(lastBind, boundAt[i]);
    }
    double span = lastBind > firstCreate ? double(lastBind - firstCreate) / 1e9 : totalSeconds;
    std::printf("{\"mode\":\"schedule\",\"pods\":%zu,\"bound\":%zu,\"create_seconds\":%.2f,\"create_per_second\":%.1f,"
                "\"first_create_to_last_bind_seconds\":%.2f,\"bound_per_second\":%.1f,\"create_to_bound_p50_ms\":%.1f,"
                "\"create_to_bound_p99_ms\":%.1f}\n",
                n, bound.load(), createSeconds, double(n) / createSeconds, span, double(bound.load()) / span,
                percentile(latency, 0.5), percentile(latency, 0.99));
    return bound.load() == n ? 0 : 1;
  }

  if (mode == "deploy-converge" || mode == "node-death") {
    // deploy-converge: apply a Deployment of --replicas, time until all are ready, then change its
    // image and time the rolling update. node-death: with the Deployment ready, mark --node dead
    // (skiff.dev/simulate=dead) and time until all replicas are ready again off that node.
    Target t = fromKubeconfig(args["kubeconfig"]);
    http::Client c(t.host, t.port, t.token, t.ca);
    size_t replicas = num("replicas", 1000);
    std::string name = "conv" + std::to_string(::getpid());
    std::string tolerations = args.count("toleration-seconds")
                                  ? R"("tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":)" +
                                        args["toleration-seconds"] + "}],"
                                  : "";
    auto deployment = [&](const std::string& image) {
      return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name + R"("},"spec":{"replicas":)" +
             std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":")" + name + R"("}},"template":{"metadata":{"labels":{"app":")" +
             name + R"("}},"spec":{)" + tolerations + R"("containers":[{"name":"c","image":")" + image +
             R"(","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}}}})";
    };
    auto path = "/apis/apps/v1/namespaces/default/deployments/" + name;
    auto waitDone = [&](double limitSeconds) -> double {
      auto t0 = Clock::now();
      while (std::chrono::duration<double>(Clock::now() - t0).count() < limitSeconds) {
        auto r = c.request("GET", path);
        if (r && r->status == 200) {
          auto d = boost::json::parse(r->body);
          auto stat = [&](const char* k) {
            auto* st = d.as_object().at("status").as_object().if_contains(k);
            return st ? st->to_number<int64_t>() : 0;
          };
          auto gen = d.at_pointer("/metadata/generation").to_number<int64_t>();
          if (d.as_object().contains("status") && stat("observedGeneration") >= gen && size_t(stat("updatedReplicas")) == replicas &&
              size_t(stat("availableReplicas")) == replicas && size_t(stat("replicas")) == replicas)
            return std::chrono::duration<double>(Clock::now() - t0).count();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return -1;
    };
    auto t0 = Clock::now();
    auto created = c.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment("busybox:1"));
    if (!created || created->status != 201) {
      std::fprintf(stderr, "create failed\n");
      return 1;
    }
    double converge = waitDone(600);
    converge = converge < 0 ? -1 : std::chrono::duration<double>(Clock::now() - t0).count();
    if (mode == "deploy-converge") {
      auto t1 = Clock::now();
      auto patched = c.request("PATCH", path, R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}})",
                               "application/strategic-merge-patch+json");
      (void)patched;
      double rolled = waitDone(600);
      rolled = rolled < 0 ? -1 : std::chrono::duration<double>(Clock::now() - t1).count();
      std::printf("{\"mode\":\"deploy-converge\",\"replicas\":%zu,\"apply_to_all_ready_s\":%.2f,\"rolling_update_s\":%.2f}\n",
                  replicas, converge, rolled);
      return converge < 0 || rolled < 0 ? 1 : 0;
    }
    std::string node = args.count("node") ? args["node"] : "sim-node-0";
    auto t2 = Clock::now();
    auto killed = c.request("PATCH", "/api/v1/nodes/" + node, R"({"metadata":{"annotations":{"skiff.dev/simulate":"dead"}}})",
                            "application/merge-patch+json");
    if (!killed || killed->status != 200) {
      std::fprintf(stderr, "could not mark %s dead\n", node.c_str());
      return 1;
    }
    // Recovered: every replica ready and none of the live (non-terminating) pods on the dead node.
    double recovered = -1;
    while (std::chrono::duration<double>(Clock::now() - t2).count() < num("timeout", 900)) {
      auto pods = c.request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3D" + name);
      auto d = c.request("GET", path);
      if (pods && d && pods->status == 200 && d->status == 200) {
        auto list = boost::json::parse(pods->body);
        size_t onDead = 0;
        for (auto& item : list.at("items").as_array()) {
          auto& meta = item.at("metadata").as_object();
          auto* nn = item.at("spec").as_object().if_contains("nodeName");
          if (!meta.contains("deletionTimestamp") && nn && nn->as_string() == node) ++onDead;
        }
        auto dep = boost::json::parse(d->body);
        auto* ready = dep.at("status").as_object().if_contains("availableReplicas");
        if (onDead == 0 && ready && size_t(ready->to_number<int64_t>()) == replicas) {
          recovered = std::chrono::duration<double>(Clock::now() - t2).count();
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("{\"mode\":\"node-death\",\"replicas\":%zu,\"node\":\"%s\",\"converge_s\":%.2f,\"death_to_all_ready_elsewhere_s\":%.2f}\n",
                replicas, node.c_str(), converge, recovered);
    return recovered < 0 ? 1 : 0;
  }

  if (mode == "pod-start" || mode == "pod-burst") {
    // pod-start: --count pods one after another, each timed from POST to the watch event that
    // shows it Running (scheduler, agent, pod network, overlay rootfs, cgroups, clone, status).
    // pod-burst: --count pods created at once; time until every one is Ready.
    Target t = fromKubeconfig(args["kubeconfig"]);
    size_t count = num("count", 200);
    std::string image = args.count("image") ? args["image"] : "local/bench:v1";
    std::string prefix = "ps" + std::to_string(::getpid()) + "-";
    std::mutex m;
    std::condition_variable cv;
    std::map<std::string, Clock::time_point> running, ready;
    std::atomic<bool> stop{false};
    http::Client c(t.host, t.port, t.token, t.ca);
    std::string rv = listRevision(c, "/api/v1/namespaces/default/pods");
    std::thread watcher([&] {
      http::Client w(t.host, t.port, t.token, t.ca);
      std::string partial;
      (void)w.stream("/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + rv, {}, [&](std::string_view chunk) {
        partial.append(chunk);
        size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          std::string line = partial.substr(0, nl);
          partial.erase(0, nl + 1);
          boost::system::error_code ec;
          auto ev = boost::json::parse(line, ec);
          if (ec) continue;
          auto* obj = ev.as_object().if_contains("object");
          if (!obj) continue;
          auto* name = obj->at_pointer("/metadata/name").if_string();
          auto* status = obj->as_object().if_contains("status");
          if (!name || !status || !status->is_object()) continue;
          auto* phase = status->as_object().if_contains("phase");
          bool isReady = false;
          if (auto* conds = status->as_object().if_contains("conditions"); conds && conds->is_array())
            for (auto& cond : conds->as_array())
              if (cond.at("type") == "Ready" && cond.at("status") == "True") isReady = true;
          std::lock_guard lock(m);
          if (phase && phase->is_string() && phase->as_string() == "Running" && !running.count(std::string(*name)))
            running[std::string(*name)] = Clock::now();
          if (isReady && !ready.count(std::string(*name))) ready[std::string(*name)] = Clock::now();
          cv.notify_all();
        }
        return !stop.load();
      });
    });
    auto podBody = [&](const std::string& name) {
      return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
             R"("},"spec":{"terminationGracePeriodSeconds":0,"containers":[{"name":"c","image":")" + image +
             R"(","imagePullPolicy":"IfNotPresent","command":["sleep","3600"],"resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"100m","memory":"32Mi"}}}]}})";
    };
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the watch is open
    if (mode == "pod-start") {
      std::vector<double> ms;
      for (size_t i = 0; i < count; ++i) {
        std::string name = prefix + std::to_string(i);
        auto t0 = Clock::now();
        auto r = c.request("POST", "/api/v1/namespaces/default/pods", podBody(name));
        if (!r || r->status != 201) {
          std::fprintf(stderr, "create %s failed\n", name.c_str());
          break;
        }
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return running.count(name) > 0; })) {
          std::fprintf(stderr, "%s did not start within 30 s\n", name.c_str());
          break;
        }
        ms.push_back(std::chrono::duration<double, std::milli>(running[name] - t0).count());
        lock.unlock();
        (void)c.request("DELETE", "/api/v1/namespaces/default/pods/" + name + "?gracePeriodSeconds=0");
      }
      double sum = 0;
      for (double v : ms) sum += v;
      size_t n = ms.size();
      double mean = n ? sum / double(n) : 0;
      std::printf("{\"mode\":\"pod-start\",\"pods\":%zu,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"mean_ms\":%.2f}\n", n,
                  percentile(ms, 0.50), percentile(ms, 0.90), percentile(ms, 0.99), mean);
      stop = true;
      (void)c.request("GET", "/api/v1/namespaces/default/pods?limit=1");
      watcher.detach();
      return n == count ? 0 : 1;
    }
    auto t0 = Clock::now();
    std::vector<std::thread> creators;
    for (size_t k = 0; k < 4; ++k)
      creators.emplace_back([&, k] {
        http::Client cc(t.host, t.port, t.token, t.ca);
        for (size_t i = k; i < count; i += 4) (void)cc.request("POST", "/api/v1/namespaces/default/pods", podBody(prefix + std::to_string(i)));
      });
    for (auto& th : creators) th.join();
    std::unique_lock lock(m);
    bool all = cv.wait_for(lock, std::chrono::seconds(120), [&] {
      size_t n = 0;
      for (auto& [k, v] : ready) n += k.starts_with(prefix);
      return n == count;
    });
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    lock.unlock();
    std::printf("{\"mode\":\"pod-burst\",\"pods\":%zu,\"all_ready\":%s,\"create_to_all_ready_s\":%.3f}\n", count, all ? "true" : "false", secs);
    stop = true;
    watcher.detach();
    return all ? 0 : 1;
  }

  if (mode == "list") {
    Target t = fromKubeconfig(args["kubeconfig"]);
    http::Client c(t.host, t.port, t.token, t.ca);
    std::vector<double> times;
    size_t bytes = 0;
    for (size_t i = 0; i < num("repeat", 3); ++i) {
      auto t0 = Clock::now();
      auto r = c.request("GET", args.count("path") ? args["path"] : "/api/v1/pods");
      times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!r || r->status != 200) {
        std::fprintf(stderr, "list failed\n");
        return 1;
      }
      bytes = r->body.size();
    }
    std::printf("{\"mode\":\"list\",\"bytes\":%zu,\"median_ms\":%.1f,\"min_ms\":%.1f}\n", bytes, percentile(times, 0.5),
                *std::min_element(times.begin(), times.end()));
    return 0;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
