#include "network/overlay_controller.h"

#include <algorithm>

#include "api/object.h"
#include "common/log.h"
#include "network/node_addressing.h"

namespace skiff::network {

std::vector<OverlayPeer> overlayPeers(const std::vector<client::ObjectPtr>& nodes, const std::string& self, const Ipv4Cidr& selfCidr,
                                      uint32_t selfIp) {
  std::vector<NodeAddressing> all;
  for (const auto& node : nodes) all.push_back(nodeAddressingOf(*node));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<OverlayPeer> peers;
  for (const auto& n : all) {
    if (n.name == self || !n.podCidr || !n.internalIp) continue;
    if (*n.internalIp == selfIp || (*n.internalIp >> 24) == 127) continue;  // no tunnel to ourselves
    if (n.podCidr->overlaps(selfCidr)) continue;
    if (std::any_of(peers.begin(), peers.end(), [&](const OverlayPeer& p) { return p.podCidr.overlaps(*n.podCidr); })) continue;
    peers.push_back({n.name, *n.podCidr, *n.internalIp});
  }
  return peers;
}

OverlayController::OverlayController(client::Informer& nodes, std::string nodeName, std::chrono::milliseconds resync)
    : nodes_(nodes), nodeName_(std::move(nodeName)), resync_(resync) {
  nodes_.addHandler([this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) {
    {
      std::lock_guard lock(mutex_);
      dirty_ = true;
    }
    wake_.notify_one();
  });
}

void OverlayController::start(std::unique_ptr<Overlay> overlay, const Ipv4Cidr& localCidr, uint32_t localIp) {
  overlay_ = std::move(overlay);
  localCidr_ = localCidr;
  localIp_ = localIp;
  thread_ = std::thread([this] { run(); });
}

void OverlayController::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void OverlayController::run() {
  auto nextPass = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, nextPass, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      dirty_ = false;
    }
    bool ok = pass();
    // After a failure the next try comes within a second (sooner when a Node changes).
    nextPass = std::chrono::steady_clock::now() + (ok ? resync_ : std::chrono::milliseconds(1000));
  }
}

bool OverlayController::pass() {
  auto peers = overlayPeers(nodes_.list(), nodeName_, localCidr_, localIp_);
  auto changes = overlay_->sync(peers);
  if (!changes) {
    // Retried every second: say it once per distinct reason, not every second.
    if (changes.error().message != lastError_)
      log::warn("overlay", "updating the routes to other nodes: " + changes.error().message + " (retrying every second)");
    lastError_ = changes.error().message;
    return false;
  }
  if (!lastError_.empty()) log::info("overlay", "routes to other nodes are in place again");
  lastError_.clear();
  for (const auto& p : peers)
    if (std::find(applied_.begin(), applied_.end(), p) == applied_.end())
      log::info("overlay", "pods of node " + p.node + " (" + p.podCidr.str() + ") are reached through " + ipv4String(p.nodeIp));
  for (const auto& p : applied_)
    if (std::find(peers.begin(), peers.end(), p) == peers.end()) log::info("overlay", "node " + p.node + " (" + p.podCidr.str() + ") left the overlay");
  applied_ = std::move(peers);
  return true;
}

}  // namespace skiff::network
