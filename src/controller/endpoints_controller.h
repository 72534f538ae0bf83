// EndpointsController: keeps an Endpoints object and an EndpointSlice (discovery.k8s.io/v1) for
// every Service with a selector, listing the matching pods' IPs (Ready ones as addresses, the
// rest as not ready; publishNotReadyAddresses lists all) and the ports their targetPorts name.
#pragma once
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class EndpointsController {
 public:
  EndpointsController(client::Client& client, client::Informer& services, client::Informer& pods);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& services_;
  client::Informer& pods_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
