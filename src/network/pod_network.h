// Pod networks for the isolating runtimes: each pod gets its own network namespace (kept alive by
// a bind mount under STATE/netns/<pod-uid>, as `ip netns` does), loopback up, and a veth pair
// whose host end joins the node bridge and whose pod end is eth0 with an address from the node's
// pod range (its Node's spec.podCIDR, network/overlay.h routes it between nodes) and a default
// route via the bridge. Both veth ends take the overlay's MTU, so pods' packets fit in a VXLAN
// frame on the node's interface without fragmentation (as flannel sets the pods' MTU). Addresses are leased as files under STATE/ips/ (as
// the host-local CNI plugin does) so a restarted agent knows which are taken.
//
// Threading: configure() runs once before any setUp; setUp/tearDown may then be called from any
// thread; namespace creation happens on a short-lived thread of its own, since
// unshare(CLONE_NEWNET) moves only the calling thread.
#pragma once
#include <atomic>
#include <mutex>
#include <string>

#include "common/result.h"

namespace skiff::network {

struct PodNetworkOptions {
  std::string stateDir;  // e.g. DATA/network
  std::string bridge = "skiff0";
};

struct PodNetworkAttachment {
  std::string netnsPath;
  std::string ip;
  std::string hostInterface;
};

class PodNetwork {
 public:
  explicit PodNetwork(PodNetworkOptions options);
  // Takes the node's pod range (the bridge gets its first address) and makes sure the bridge
  // exists, has that address and is up. `mtu` 0 leaves pods' interfaces at the kernel default.
  Status configure(const std::string& cidr, int mtu);
  // Creates (or finds, after a restart) the pod's namespace, interface and address. Before
  // configure(): an error saying the node has no pod range yet.
  Result<PodNetworkAttachment> setUp(const std::string& podUid);
  // Removes the pod's interface, namespace and address lease; safe to call twice.
  void tearDown(const std::string& podUid);
  // Deletes the bridge when this process created it.
  void shutdown();
  const std::string& gateway() const { return gateway_; }
  const PodNetworkOptions& options() const { return options_; }
  const std::string& cidr() const { return cidr_; }

 private:
  Result<std::string> leaseAddress(const std::string& podUid);
  std::string heldLease(const std::string& podUid);  // "" = none
  std::string hostInterfaceFor(const std::string& podUid) const;

  PodNetworkOptions options_;
  std::mutex mutex_;
  uint32_t network_ = 0, prefix_ = 16, next_ = 2;
  int mtu_ = 0;
  std::string cidr_, gateway_;
  std::atomic<bool> configured_{false};
  bool createdBridge_ = false;
};

}  // namespace skiff::network
