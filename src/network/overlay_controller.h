// OverlayController: keeps this node's Overlay (overlay.h) in step with the Nodes the agent
// watches: every other Node with a pod range and an InternalIP is a peer; one that appears
// gets its route, one that is deleted loses it. Level-driven: each pass computes the peers
// from the whole Node cache and lets the Overlay reconcile the kernel against them, on Node
// events and every `resync` (so an entry removed by hand comes back).
//
// Threading: informer handlers only mark work; one thread of its own does the passes.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "client/informer.h"
#include "network/overlay.h"

namespace skiff::network {

// The nodes this one tunnels to: other Nodes with a pod range and an InternalIP that is not
// this node's or a loopback address, whose range overlaps neither this node's nor one listed
// before it (ranges come from the IPAM, so overlaps are misconfigurations; the first by name
// wins). Sorted by node name.
std::vector<OverlayPeer> overlayPeers(const std::vector<client::ObjectPtr>& nodes, const std::string& self, const Ipv4Cidr& selfCidr,
                                      uint32_t selfIp);

class OverlayController {
 public:
  // Registers its handler: construct before the informer starts.
  OverlayController(client::Informer& nodes, std::string nodeName, std::chrono::milliseconds resync = std::chrono::seconds(10));
  ~OverlayController() { stop(); }
  // Starts the passes once this node's range and address are known.
  void start(std::unique_ptr<Overlay> overlay, const Ipv4Cidr& localCidr, uint32_t localIp);
  void stop();

 private:
  void run();
  bool pass();

  client::Informer& nodes_;
  std::string nodeName_;
  std::chrono::milliseconds resync_;
  std::unique_ptr<Overlay> overlay_;
  Ipv4Cidr localCidr_;
  uint32_t localIp_ = 0;
  std::vector<OverlayPeer> applied_;  // peers of the last successful pass (run() only)
  std::string lastError_;             // of the last failed pass, "" after a success (run() only)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool dirty_ = true;        // guarded by mutex_
  bool stopping_ = false;    // guarded by mutex_
  std::thread thread_;
};

}  // namespace skiff::network
