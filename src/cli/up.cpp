// skiff up [--data-dir DIR] [--listen HOST:PORT]: the whole platform in this process.
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "common/log.h"
#include "http/http.h"
#include "server/platform.h"

namespace skiff::cli {

int runUp(const Args& args) {
  auto started = std::chrono::steady_clock::now();
  // Everything the server creates (store, WAL, tokens, keys, logs, pod directories) is private
  // from the first byte; files that others must read (a pod's volume files) ask for their mode.
  // Containers get 022 back from their runtime, as runc gives them.
  umask(077);
  // One arena per connection thread would keep freed request buffers resident; two is enough here.
  mallopt(M_ARENA_MAX, 2);
  auto flags = Flags::parse(args, {{"data-dir", "d", true}, {"listen", "", true}, {"log-level", "", true}, {"simulated-nodes", "", true}, {"node-monitor-grace-period", "", true}, {"no-agent", "", false}, {"no-controllers", "", false},
                                      {"node-name", "", true}, {"service-cidr", "", true}, {"runtime", "", true}, {"pod-cidr", "", true}, {"bridge", "", true},
                                      {"proxy-workers", "", true}, {"access-log", "", true}, {"otlp-endpoint", "", true},
                                      {"mesh-port", "", true}, {"mesh-cert-lifetime", "", true},
                                      {"node-ip", "", true}, {"node-server-port", "", true}});
  if (!flags) return fail(flags.error().message);
  if (!flags->positional().empty()) return fail("skiff up takes no arguments, got \"" + flags->positional()[0] + "\"");
  std::string level = flags->get("log-level", "info");
  if (level == "debug") log::setLevel(log::Level::Debug);
  else if (level == "warn") log::setLevel(log::Level::Warn);
  else if (level == "error") log::setLevel(log::Level::Error);
  server::PlatformOptions options;
  options.dataDir = flags->get("data-dir", ".skiff");
  auto hp = http::parseHostPort(flags->get("listen", "127.0.0.1:6443"), 6443);
  if (!hp) return fail(hp.error().message);
  options.listenHost = hp->first;
  options.listenPort = hp->second;
  if (flags->has("simulated-nodes")) {
    char* end = nullptr;
    long n = std::strtol(flags->get("simulated-nodes").c_str(), &end, 10);
    if (*end || n < 0 || n > 100000) return fail("--simulated-nodes takes a count from 0 to 100000");
    options.simulatedNodes = int(n);
  }
  if (flags->has("node-monitor-grace-period")) {
    std::string v = flags->get("node-monitor-grace-period");
    char* end = nullptr;
    double secs = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || (*end && std::string(end) != "s") || secs <= 0)
      return fail("--node-monitor-grace-period takes seconds, like 40s");
    options.nodeGracePeriod = std::chrono::milliseconds(int64_t(secs * 1000));
  }
  options.controllers = !flags->has("no-controllers");
  options.agent = !flags->has("no-agent") && options.controllers;
  if (flags->has("service-cidr")) {
    std::string cidr = flags->get("service-cidr");
    unsigned a, b, c, d, bits;
    char extra;
    if (std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &bits, &extra) != 5 || a > 255 || b > 255 || c > 255 ||
        d > 255 || bits < 8 || bits > 30)
      return fail("--service-cidr takes an IPv4 range like 10.96.0.0/16 (prefix 8 to 30), not \"" + cidr + "\"");
    options.serviceCidr = cidr;
  }
  options.nodeName = flags->get("node-name");
  options.nodeIp = flags->get("node-ip");
  if (!options.nodeIp.empty()) {
    unsigned a, b, c, d;
    char extra;
    if (std::sscanf(options.nodeIp.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
      return fail("--node-ip takes this machine's IPv4 address, like 192.168.1.20, not \"" + options.nodeIp + "\"");
  }
  if (flags->has("node-server-port")) {
    char* end = nullptr;
    long n = std::strtol(flags->get("node-server-port").c_str(), &end, 10);
    if (*end || n < 0 || n > 65535) return fail("--node-server-port takes a TCP port (0 picks a free one), not \"" + flags->get("node-server-port") + "\"");
    options.nodeServerPort = uint16_t(n);
  }
  options.runtime = flags->get("runtime");
  if (!options.runtime.empty() && options.runtime != "native" && options.runtime != "oci" && options.runtime != "process")
    return fail("--runtime takes native, oci or process, not \"" + options.runtime + "\"");
  if (flags->has("pod-cidr")) {
    options.podCidr = flags->get("pod-cidr");
    unsigned a, b, c, d, bits;
    char extra;
    if (std::sscanf(options.podCidr.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &bits, &extra) != 5 || a > 255 || b > 255 ||
        c > 255 || d > 255 || bits < 8 || bits > 28)
      return fail("--pod-cidr takes an IPv4 range like 10.244.0.0/16 (prefix 8 to 28), not \"" + options.podCidr + "\"");
  }
  if (flags->has("bridge")) {
    options.bridge = flags->get("bridge");
    if (options.bridge.empty() || options.bridge.size() > 15) return fail("--bridge takes an interface name of 1 to 15 characters");
  }
  if (flags->has("proxy-workers")) {
    char* end = nullptr;
    long n = std::strtol(flags->get("proxy-workers").c_str(), &end, 10);
    if (*end || n < 1 || n > 256) return fail("--proxy-workers takes a thread count from 1 to 256");
    options.proxyWorkers = int(n);
  }
  if (flags->has("mesh-port")) {
    char* end = nullptr;
    long n = std::strtol(flags->get("mesh-port").c_str(), &end, 10);
    if (*end || n < 0 || n > 65535) return fail("--mesh-port takes a TCP port (0 turns the mesh's mTLS port off), not \"" + flags->get("mesh-port") + "\"");
    options.meshPort = int(n);
  }
  if (flags->has("mesh-cert-lifetime")) {
    char* end = nullptr;
    long n = std::strtol(flags->get("mesh-cert-lifetime").c_str(), &end, 10);
    std::string unit = end;
    long seconds = unit == "s" ? n : unit == "m" ? n * 60 : unit == "h" ? n * 3600 : -1;
    if (seconds < 10 || seconds > 90L * 86400)
      return fail("--mesh-cert-lifetime takes a duration from 10s to 2160h (like 90s, 30m, 24h), not \"" + flags->get("mesh-cert-lifetime") + "\"");
    options.meshCertificateLifetime = std::chrono::seconds(seconds);
  }
  options.accessLog = flags->get("access-log");
  options.otlpEndpoint = flags->get("otlp-endpoint");
  if (const char* b = std::getenv("SKIFF_RESTART_BACKOFF_MS")) options.restartBackoff = std::chrono::milliseconds(std::atol(b));
  if (const char* e = std::getenv("SKIFF_EVICTION_INTERVAL_MS")) options.storageCheckInterval = std::chrono::milliseconds(std::max(100L, std::atol(e)));
  if (const char* l = std::getenv("SKIFF_LOG_MAX_BYTES")) options.maxLogBytes = uint64_t(std::atoll(l));
  if (const char* bm = std::getenv("SKIFF_BOOKMARK_INTERVAL_MS")) options.bookmarkInterval = std::chrono::milliseconds(std::atol(bm));

  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto platform = server::Platform::start(options);
  if (!platform) return fail(platform.error().message);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  std::string host = options.listenHost.find(':') != std::string::npos ? "[" + options.listenHost + "]" : options.listenHost;
  std::printf("skiff is up in %.1f ms\n  API:        https://%s:%u\n  kubeconfig: %s\n  try:        skiff get ns   or   KUBECONFIG=%s kubectl get ns\n",
              ms, host.c_str(), unsigned((*platform)->port()), (*platform)->kubeconfigPath().c_str(),
              (*platform)->kubeconfigPath().c_str());
  std::fflush(stdout);
  // Request parsing leaves freed heap behind; hand it back to the OS now and then so resident
  // memory tracks what is actually held.
  std::atomic<bool> stopping{false};
  std::thread trimmer([&] {
    while (!stopping) {
      for (int i = 0; i < 50 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      malloc_trim(0);
    }
  });
  int sig = 0;
  sigwait(&stopSignals, &sig);
  stopping = true;
  trimmer.join();
  log::info("up", std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
  (*platform)->stop();
  return 0;
}

}  // namespace skiff::cli
