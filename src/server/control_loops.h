// ControlLoops: the scheduler and every controller of the control plane, built on one informer
// set, started together and stopped together. `skiff up` runs them for good; `skiff server` runs
// them while it holds the controller Lease (client/leader_election.h) and drops them when it
// loses it, so only one server's loops act at a time.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>

#include "client/informer.h"
#include "common/result.h"
#include "controller/hpa_controller.h"
#include "controller/csr_controller.h"
#include "controller/node_ipam_controller.h"
#include "pki/pki.h"

namespace skiff::server {

struct ControlLoopOptions {
  std::chrono::milliseconds nodeGracePeriod{40000};
  controller::NodeIpamOptions ipam;  // pod ranges for Nodes (checked at the command line)
  // Signs certificate signing requests (controller/csr_controller.h); none = no signer runs.
  std::optional<pki::CertificateAuthority> ca;
  controller::CsrOptions csr;  // the longest certificate it signs (--cluster-signing-duration)
  // Per-pod usage for the HPA ("ns/pod" -> usage); null = none known.
  std::function<std::map<std::string, controller::PodUsage>()> usage;
};

class ControlLoops {
 public:
  // Asks `informers` for what the loops watch; run() starts them once the informers started.
  static std::unique_ptr<ControlLoops> build(client::Client& client, client::InformerSet& informers, const ControlLoopOptions& options);
  virtual ~ControlLoops() = default;
  virtual void run() = 0;
  virtual void stop() = 0;
};

}  // namespace skiff::server
