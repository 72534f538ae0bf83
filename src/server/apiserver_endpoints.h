// ApiServerEndpoints: the `kubernetes` Service's Endpoints name every live API server, so pods on
// any node reach the API through the Service wherever the servers run.
//
// Each server keeps a Lease of its own in kube-system (`apiserver-<address>`, labelled
// skiff.io/apiserver-endpoint) renewed every `period`, and on each renewal rewrites the Endpoints
// to the addresses whose leases were renewed within `expiry` (so a server that died drops out
// after `expiry`; one that stops cleanly removes itself at once). This is Kubernetes' "lease"
// endpoint reconciler, with the leases as API objects.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "client/client.h"

namespace skiff::server {

struct ApiServerEndpointOptions {
  std::string address;  // this server's advertised IP
  uint16_t port = 6443;
  std::chrono::milliseconds period{5000};
  std::chrono::milliseconds expiry{15000};
};

class ApiServerEndpoints {
 public:
  ApiServerEndpoints(client::Client& client, ApiServerEndpointOptions options) : client_(client), options_(std::move(options)) {}
  ~ApiServerEndpoints() { stop(); }
  // Publishes this server once (synchronously, so `kubernetes` is right before the first pod
  // asks) and keeps doing so in the background.
  Status start();
  // Withdraws this server's lease and address.
  void stop();
  // One renewal and reconciliation (exposed for tests).
  Status reconcile(bool withdrawing = false);

 private:
  client::Client& client_;
  ApiServerEndpointOptions options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false, started_ = false;
  std::thread thread_;
};

}  // namespace skiff::server
