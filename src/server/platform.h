// Platform: the one place that wires skiff's components together for `skiff up` (and for tests
// that want a whole server in-process). Everything else meets through headers and the API.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"

namespace skiff::server {

struct PlatformOptions {
  std::string dataDir = ".skiff";
  std::string listenHost = "127.0.0.1";
  uint16_t listenPort = 6443;
  std::chrono::milliseconds bookmarkInterval{10000};
  int simulatedNodes = 0;  // hollow nodes for tests and scale figures (no processes run)
  std::chrono::milliseconds nodeGracePeriod{40000};  // lease age after which a node is NotReady
  bool agent = true;            // run this machine as a node
  bool controllers = true;      // scheduler and workload controllers (false: API server and store only)
  std::string nodeName;         // default: the host name
  std::string nodeIp;           // the node's InternalIP; "" = the default-route interface's address (127.0.0.1 with --runtime process)
  uint16_t nodeServerPort = 10250;  // the node server (the kubelet's port); a free one when taken, 0 = any
  std::chrono::milliseconds restartBackoff{10000};
  std::chrono::milliseconds storageCheckInterval{5000};  // how often local storage limits are measured
  uint64_t maxLogBytes = 10 * 1024 * 1024;
  std::string serviceCidr;  // default: 10.96.0.0/16 with the native and oci runtimes, 127.19.0.0/16 otherwise
  // Container runtime of this node's agent: "native" (default as root), "oci" (runc) or "process".
  std::string runtime;
  std::string podCidr = "10.244.0.0/16";  // isolating runtimes: pod addresses on the node bridge
  std::string bridge = "skiff0";
  int proxyWorkers = 0;        // node proxy worker threads; 0 = one per core
  int meshPort = 15008;        // the node proxy's mTLS port for other nodes' proxies; 0 = no mesh
  std::chrono::seconds meshCertificateLifetime{24 * 3600};  // workload certificates, renewed at half life
  std::string accessLog;
  std::string otlpEndpoint;    // http://collector:4318: spans of API requests and proxied requests go there       // node proxy access log (JSON lines); "" = DATA/logs/proxy-access.log, "off" = none
};

class Platform {
 public:
  // Opens the data dir (locked against a second skiff), the store, and starts serving.
  static Result<std::unique_ptr<Platform>> start(const PlatformOptions& options);
  virtual ~Platform() = default;
  virtual uint16_t port() const = 0;
  virtual std::string kubeconfigPath() const = 0;
  virtual std::string token() const = 0;
  virtual void stop() = 0;
};

}  // namespace skiff::server
