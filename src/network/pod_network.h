// Pod networks for the isolating runtimes: each pod gets its own network namespace (kept alive by
// a bind mount under STATE/netns/<pod-uid>, as `ip netns` does), loopback up, and a veth pair
// whose host end joins the node bridge and whose pod end is eth0 with an address from the node's
// pod CIDR and a default route via the bridge. Addresses are leased as files under STATE/ips/ (as
// the host-local CNI plugin does) so a restarted agent knows which are taken.
//
// Threading: setUp/tearDown may be called from any thread; namespace creation happens on a
// short-lived thread of its own, since unshare(CLONE_NEWNET) moves only the calling thread.
#pragma once
#include <mutex>
#include <string>

#include "common/result.h"

namespace skiff::network {

struct PodNetworkOptions {
  std::string stateDir;              // e.g. DATA/network
  std::string bridge = "skiff0";
  std::string cidr = "10.244.0.0/16";  // the node's pod CIDR; the bridge takes the first address
};

struct PodNetworkAttachment {
  std::string netnsPath;
  std::string ip;
  std::string hostInterface;
};

class PodNetwork {
 public:
  explicit PodNetwork(PodNetworkOptions options);
  // Makes sure the bridge exists, has the gateway address and is up.
  Status init();
  // Creates (or finds, after a restart) the pod's namespace, interface and address.
  Result<PodNetworkAttachment> setUp(const std::string& podUid);
  // Removes the pod's interface, namespace and address lease; safe to call twice.
  void tearDown(const std::string& podUid);
  // Deletes the bridge when this process created it.
  void shutdown();
  const std::string& gateway() const { return gateway_; }
  const PodNetworkOptions& options() const { return options_; }

 private:
  Result<std::string> leaseAddress(const std::string& podUid);
  std::string hostInterfaceFor(const std::string& podUid) const;

  PodNetworkOptions options_;
  std::mutex mutex_;
  uint32_t network_ = 0, prefix_ = 16, next_ = 2;
  std::string gateway_;
  bool createdBridge_ = false;
};

}  // namespace skiff::network
