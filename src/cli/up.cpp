// The long-running commands: `skiff up` (the whole platform in this process), `skiff server`
// (the control plane) and `skiff agent` (this machine as a node of a cluster).
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "api/traffic_policy.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/kubeconfig.h"
#include "common/log.h"
#include "http/http.h"
#include "network/cidr_set.h"
#include "server/agent.h"
#include "server/platform.h"

namespace skiff::cli {
namespace {

const std::vector<FlagSpec> kNodeFlags = {{"node-name", "", true}, {"node-ip", "", true}, {"node-server-port", "", true}, {"runtime", "", true}, {"pod-cidr", "", true}, {"bridge", "", true},
                                          {"proxy-workers", "", true}, {"access-log", "", true}, {"mesh-port", "", true},
                                          {"mesh-cert-lifetime", "", true}, {"ingress-http-port", "", true}, {"ingress-https-port", "", true}};

std::vector<FlagSpec> withFlags(std::vector<FlagSpec> a, const std::vector<FlagSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void setLogLevel(const Flags& flags) {
  std::string level = flags.get("log-level", "info");
  if (level == "debug") log::setLevel(log::Level::Debug);
  else if (level == "warn") log::setLevel(log::Level::Warn);
  else if (level == "error") log::setLevel(log::Level::Error);
}

// Flags every process that runs pods shares (`skiff up`, `skiff agent`).
Status nodeOptionsFrom(const Flags& flags, server::NodeOptions& options) {
  options.nodeName = flags.get("node-name");
  options.nodeIp = flags.get("node-ip");
  if (!options.nodeIp.empty()) {
    unsigned a, b, c, d;
    char extra;
    if (std::sscanf(options.nodeIp.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
      return Error::badRequest("--node-ip takes this machine's IPv4 address, like 192.168.1.20, not \"" + options.nodeIp + "\"");
  }
  if (flags.has("node-server-port")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("node-server-port").c_str(), &end, 10);
    if (*end || n < 0 || n > 65535)
      return Error::badRequest("--node-server-port takes a TCP port (0 picks a free one), not \"" + flags.get("node-server-port") + "\"");
    options.nodeServerPort = uint16_t(n);
  }
  options.runtime = flags.get("runtime");
  if (!options.runtime.empty() && options.runtime != "native" && options.runtime != "oci" && options.runtime != "process")
    return Error::badRequest("--runtime takes native, oci or process, not \"" + options.runtime + "\"");
  if (flags.has("pod-cidr")) {
    options.podCidr = flags.get("pod-cidr");
    unsigned a, b, c, d, bits;
    char extra;
    if (std::sscanf(options.podCidr.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &bits, &extra) != 5 || a > 255 || b > 255 ||
        c > 255 || d > 255 || bits < 8 || bits > 28)
      return Error::badRequest("--pod-cidr takes an IPv4 range like 10.244.0.0/16 (prefix 8 to 28), not \"" + options.podCidr + "\"");
  }
  if (flags.has("bridge")) {
    options.bridge = flags.get("bridge");
    if (options.bridge.empty() || options.bridge.size() > 15) return Error::badRequest("--bridge takes an interface name of 1 to 15 characters");
  }
  if (flags.has("proxy-workers")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("proxy-workers").c_str(), &end, 10);
    if (*end || n < 1 || n > 256) return Error::badRequest("--proxy-workers takes a thread count from 1 to 256");
    options.proxyWorkers = int(n);
  }
  if (flags.has("mesh-port")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("mesh-port").c_str(), &end, 10);
    if (*end || n < 0 || n > 65535)
      return Error::badRequest("--mesh-port takes a TCP port (0 turns the mesh's mTLS port off), not \"" + flags.get("mesh-port") + "\"");
    options.meshPort = int(n);
  }
  for (auto [flag, port] : {std::pair{"ingress-http-port", &options.ingressHttpPort}, std::pair{"ingress-https-port", &options.ingressHttpsPort}}) {
    if (!flags.has(flag)) continue;
    char* end = nullptr;
    long n = std::strtol(flags.get(flag).c_str(), &end, 10);
    if (*end || n < 0 || n > 65535)
      return Error::badRequest(std::string("--") + flag + " takes the TCP port Ingresses are served on (0 turns it off), not \"" + flags.get(flag) + "\"");
    *port = int(n);
  }
  if (flags.has("mesh-cert-lifetime")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("mesh-cert-lifetime").c_str(), &end, 10);
    std::string unit = end;
    long seconds = unit == "s" ? n : unit == "m" ? n * 60 : unit == "h" ? n * 3600 : -1;
    if (seconds < 10 || seconds > 90L * 86400)
      return Error::badRequest("--mesh-cert-lifetime takes a duration from 10s to 2160h (like 90s, 30m, 24h), not \"" +
                               flags.get("mesh-cert-lifetime") + "\"");
    options.meshCertificateLifetime = std::chrono::seconds(seconds);
  }
  options.accessLog = flags.get("access-log");
  if (const char* b = std::getenv("SKIFF_RESTART_BACKOFF_MS")) options.restartBackoff = std::chrono::milliseconds(std::atol(b));
  if (const char* e = std::getenv("SKIFF_EVICTION_INTERVAL_MS"))
    options.storageCheckInterval = std::chrono::milliseconds(std::max(100L, std::atol(e)));
  if (const char* l = std::getenv("SKIFF_LOG_MAX_BYTES")) options.maxLogBytes = uint64_t(std::atoll(l));
  return {};
}

// --cluster-cidr and --node-cidr-mask-size (kube-controller-manager's): the range Nodes' pod
// ranges are cut from, apart from the Services' range.
Status nodeIpamFrom(const Flags& flags, server::PlatformOptions& options) {
  if (flags.has("cluster-cidr")) {
    auto cidr = network::Ipv4Cidr::parse(flags.get("cluster-cidr"));
    if (!cidr) return Error::badRequest("--cluster-cidr: " + cidr.error().message);
    options.nodeIpam.clusterCidr = *cidr;
  }
  if (flags.has("node-cidr-mask-size")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("node-cidr-mask-size").c_str(), &end, 10);
    if (*end || n < 1 || n > 30) return Error::badRequest("--node-cidr-mask-size takes a prefix length like 24, not \"" + flags.get("node-cidr-mask-size") + "\"");
    options.nodeIpam.nodeMaskSize = int(n);
  }
  if (auto set = network::CidrSet::create(options.nodeIpam.clusterCidr, options.nodeIpam.nodeMaskSize); !set)
    return Error::badRequest("--cluster-cidr " + options.nodeIpam.clusterCidr.str() + " with --node-cidr-mask-size: " + set.error().message);
  // Pods and Services need separate ranges (the defaults, 10.244.0.0/16 and 10.96.0.0/16, are).
  for (const std::string& services : {options.serviceCidr.empty() ? std::string("10.96.0.0/16") : options.serviceCidr, std::string("127.19.0.0/16")})
    if (auto s = network::Ipv4Cidr::parse(services); s && s->overlaps(options.nodeIpam.clusterCidr))
      return Error::badRequest("--cluster-cidr " + options.nodeIpam.clusterCidr.str() + " overlaps the service range " + services +
                               "; pick ranges that do not overlap (--cluster-cidr, --service-cidr)");
  return {};
}

// Flags of the processes that serve the API (`skiff up`, `skiff server`).
Status platformOptionsFrom(const Flags& flags, server::PlatformOptions& options) {
  options.dataDir = flags.get("data-dir", ".skiff");
  options.storeUrl = flags.get("store");
  if (flags.has("store") && !options.storeUrl.starts_with("etcd://"))
    return Error::badRequest("--store takes etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (several servers on one etcd cluster), not \"" +
                             options.storeUrl + "\"; without --store the store is SQLite in --data-dir");
  auto hp = http::parseHostPort(flags.get("listen", "127.0.0.1:6443"), 6443);
  if (!hp) return hp.error();
  options.listenHost = hp->first;
  options.listenPort = hp->second;
  options.advertiseAddress = flags.get("advertise-address");
  if (!options.advertiseAddress.empty()) {
    unsigned a, b, c, d;
    char extra;
    if (std::sscanf(options.advertiseAddress.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
      return Error::badRequest("--advertise-address takes this server's IPv4 address, like 10.0.0.5, not \"" + options.advertiseAddress + "\"");
  }
  if (flags.has("simulated-nodes")) {
    char* end = nullptr;
    long n = std::strtol(flags.get("simulated-nodes").c_str(), &end, 10);
    if (*end || n < 0 || n > 100000) return Error::badRequest("--simulated-nodes takes a count from 0 to 100000");
    options.simulatedNodes = int(n);
  }
  if (flags.has("node-monitor-grace-period")) {
    std::string v = flags.get("node-monitor-grace-period");
    char* end = nullptr;
    double secs = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || (*end && std::string(end) != "s") || secs <= 0)
      return Error::badRequest("--node-monitor-grace-period takes seconds, like 40s");
    options.nodeGracePeriod = std::chrono::milliseconds(int64_t(secs * 1000));
  }
  options.audit.policyFile = flags.get("audit-policy-file");
  options.encryptionConfig = flags.get("encryption-provider-config");
  options.audit.logPath = flags.get("audit-log-path");
  if (options.audit.logPath.empty() != options.audit.policyFile.empty())
    return Error::badRequest("--audit-policy-file and --audit-log-path go together: the policy says what to record, the path where");
  for (const char* f : {"audit-log-maxsize", "audit-log-maxbackup"})
    if (flags.has(f)) {
      char* end = nullptr;
      long v = std::strtol(flags.get(f).c_str(), &end, 10);
      if (*end || v < 0 || v > 100000) return Error::badRequest(std::string("--") + f + " takes a whole number (megabytes for maxsize, files for maxbackup)");
      if (std::string(f) == "audit-log-maxsize") options.audit.maxSizeMiB = size_t(v);
      else options.audit.maxBackups = int(v);
    }
  if (flags.has("cluster-signing-duration")) {
    auto ms = api::parseDurationMillis(flags.get("cluster-signing-duration"));
    if (!ms || *ms < 10000)
      return Error::badRequest("--cluster-signing-duration takes a duration of at least 10s, like 8760h (the default, a year) or 24h");
    options.clusterSigningDuration = std::chrono::seconds(*ms / 1000);
  }
  options.controllers = !flags.has("no-controllers");
  if (flags.has("service-cidr")) {
    std::string cidr = flags.get("service-cidr");
    unsigned a, b, c, d, bits;
    char extra;
    if (std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &bits, &extra) != 5 || a > 255 || b > 255 || c > 255 ||
        d > 255 || bits < 8 || bits > 30)
      return Error::badRequest("--service-cidr takes an IPv4 range like 10.96.0.0/16 (prefix 8 to 30), not \"" + cidr + "\"");
    options.serviceCidr = cidr;
  }
  if (Status s = nodeIpamFrom(flags, options); !s) return s;
  options.otlpEndpoint = flags.get("otlp-endpoint");
  if (flags.has("gitops-poll-interval")) {
    auto ms = api::parseDurationMillis(flags.get("gitops-poll-interval"));
    if (!ms || *ms < 100) return Error::badRequest("--gitops-poll-interval takes a duration of at least 100ms, like 180s (the default) or 3m");
    options.gitopsPollInterval = std::chrono::milliseconds(*ms);
  }
  options.gitopsWebhookSecret = flags.get("gitops-webhook-secret");
  if (const char* bm = std::getenv("SKIFF_BOOKMARK_INTERVAL_MS")) options.bookmarkInterval = std::chrono::milliseconds(std::atol(bm));
  return {};
}

const std::vector<FlagSpec> kPlatformFlags = {{"data-dir", "d", true},      {"listen", "", true},       {"log-level", "", true},
                                              {"simulated-nodes", "", true}, {"node-monitor-grace-period", "", true},
                                              {"no-controllers", "", false}, {"service-cidr", "", true}, {"otlp-endpoint", "", true},
                                              {"advertise-address", "", true}, {"cluster-cidr", "", true}, {"node-cidr-mask-size", "", true},
                                              {"store", "", true}, {"cluster-signing-duration", "", true},
                                              {"audit-policy-file", "", true}, {"encryption-provider-config", "", true}, {"audit-log-path", "", true}, {"audit-log-maxsize", "", true},
                                              {"audit-log-maxbackup", "", true}, {"gitops-poll-interval", "", true},
                                              {"gitops-webhook-secret", "", true}};

// SIGINT/SIGTERM, blocked before any thread starts so only wait() receives them.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    signal(SIGPIPE, SIG_IGN);
  }
  // True once a stop signal is pending (for loops that run before wait()).
  bool pending() const {
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, SIGINT) || sigismember(&p, SIGTERM);
  }
  // Waits for the signal, handing freed heap back to the OS now and then meanwhile (request
  // parsing leaves freed heap behind; resident memory should track what is actually held).
  int wait() {
    std::atomic<bool> stopping{false};
    std::thread trimmer([&] {
      while (!stopping) {
        for (int i = 0; i < 50 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        malloc_trim(0);
      }
    });
    int sig = 0;
    sigwait(&set_, &sig);
    stopping = true;
    trimmer.join();
    return sig;
  }

 private:
  sigset_t set_;
};

void prepareProcess() {
  // Everything the server creates (store, WAL, tokens, keys, logs, pod directories) is private
  // from the first byte; files that others must read (a pod's volume files) ask for their mode.
  // Containers get 022 back from their runtime, as runc gives them.
  umask(077);
  // One arena per connection thread would keep freed request buffers resident; two is enough here.
  mallopt(M_ARENA_MAX, 2);
}

int servePlatform(const server::PlatformOptions& options, const char* what, std::chrono::steady_clock::time_point started) {
  StopSignals signals;
  auto platform = server::Platform::start(options);
  if (!platform) return fail(platform.error().message);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  std::string host = options.listenHost.find(':') != std::string::npos ? "[" + options.listenHost + "]" : options.listenHost;
  std::printf("%s is up in %.1f ms\n  API:        https://%s:%u\n  kubeconfig: %s\n  try:        skiff get ns   or   KUBECONFIG=%s kubectl get ns\n",
              std::string(what) == "up" ? "skiff" : "skiff server", ms, host.c_str(), unsigned((*platform)->port()), (*platform)->kubeconfigPath().c_str(),
              (*platform)->kubeconfigPath().c_str());
  std::fflush(stdout);
  int sig = signals.wait();
  log::info(what, std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
  (*platform)->stop();
  return 0;
}

}  // namespace

int runUp(const Args& args) {
  auto started = std::chrono::steady_clock::now();
  prepareProcess();
  auto flags = Flags::parse(args, withFlags(withFlags(kPlatformFlags, kNodeFlags), {{"no-agent", "", false}}));
  if (!flags) return fail(flags.error().message);
  if (!flags->positional().empty()) return fail("skiff up takes no arguments, got \"" + flags->positional()[0] + "\"");
  setLogLevel(*flags);
  server::PlatformOptions options;
  if (Status s = platformOptionsFrom(*flags, options); !s) return fail(s.error().message);
  if (Status s = nodeOptionsFrom(*flags, options.node); !s) return fail(s.error().message);
  options.agent = !flags->has("no-agent") && options.controllers;
  return servePlatform(options, "up", started);
}

int runServer(const Args& args) {
  auto started = std::chrono::steady_clock::now();
  prepareProcess();
  auto flags = Flags::parse(args, kPlatformFlags);
  if (!flags) return fail(flags.error().message);
  if (!flags->positional().empty()) return fail("skiff server takes no arguments, got \"" + flags->positional()[0] + "\"");
  setLogLevel(*flags);
  server::PlatformOptions options;
  if (Status s = platformOptionsFrom(*flags, options); !s) return fail(s.error().message);
  options.agent = false;
  options.electLeader = true;
  return servePlatform(options, "server", started);
}

int runAgent(const Args& args) {
  prepareProcess();
  auto flags = Flags::parse(args, withFlags(kNodeFlags, {{"data-dir", "d", true}, {"log-level", "", true}, {"server", "", true},
                                                         {"kubeconfig", "", true}, {"token", "", true}, {"node-lease-duration", "", true}}));
  if (!flags) return fail(flags.error().message);
  if (!flags->positional().empty()) return fail("skiff agent takes no arguments, got \"" + flags->positional()[0] + "\"");
  setLogLevel(*flags);
  server::AgentProcessOptions options;
  options.node.dataDir = flags->get("data-dir", ".skiff-agent");
  if (Status s = nodeOptionsFrom(*flags, options.node); !s) return fail(s.error().message);
  if (flags->has("node-lease-duration")) {
    // kubelet's nodeLeaseDurationSeconds: the node's Lease is renewed every quarter of it. Keep it
    // at or under the servers' --node-monitor-grace-period.
    std::string v = flags->get("node-lease-duration");
    char* end = nullptr;
    double secs = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || (*end && std::string(end) != "s") || secs < 1 || secs > 3600)
      return fail("--node-lease-duration takes seconds from 1 to 3600, like 40s");
    options.node.leaseRenewInterval = std::chrono::milliseconds(int64_t(secs * 1000 / 4));
  }
  std::string servers = flags->get("server");
  if (flags->has("token")) {
    // Join with the server's node token: the agent gets its own certificate (server/node_join.h).
    if (flags->has("kubeconfig")) return fail("give either --token (join as a node) or --kubeconfig, not both");
    if (servers.empty()) return fail("--token needs --server https://HOST:PORT[,https://HOST2:PORT] (the servers to join)");
    options.joinToken = flags->get("token");
  } else if (flags->has("kubeconfig")) {
    auto kc = loadKubeconfig(flags->get("kubeconfig"));
    if (!kc) return fail(kc.error().message);
    options.api.caPem = kc->caPem;
    options.api.token = kc->token;
    options.api.certPem = kc->certPem;
    options.api.keyPem = kc->keyPem;
    if (servers.empty()) servers = kc->server;
  } else {
    return fail("skiff agent needs credentials: --server URL --token TOKEN (the server's DATA/node-token), or --kubeconfig FILE");
  }
  for (size_t start = 0; start <= servers.size();) {
    size_t comma = servers.find(',', start);
    std::string s = servers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!s.empty()) options.api.servers.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  StopSignals signals;
  auto agent = server::Agent::start(options, [&] { return signals.pending(); });
  if (!agent) return fail(agent.error().message);
  std::printf("skiff agent: node %s is up\n", (*agent)->nodeName().c_str());
  std::fflush(stdout);
  int sig = signals.wait();
  log::info("agent", std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
  (*agent)->stop();
  return 0;
}

}  // namespace skiff::cli
