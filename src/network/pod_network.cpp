#include "network/pod_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/log.h"
#include "network/netlink.h"

namespace skiff::network {
namespace fs = std::filesystem;

PodNetwork::PodNetwork(PodNetworkOptions options) : options_(std::move(options)) {}

std::string PodNetwork::hostInterfaceFor(const std::string& podUid) const {
  std::string id;
  for (char c : podUid)
    if (std::isalnum(static_cast<unsigned char>(c))) id += c;
  return "sk" + id.substr(0, 13);
}

Status PodNetwork::configure(const std::string& cidr, int mtu) {
  auto range = Ipv4Cidr::parse(cidr);
  if (!range) return Error::badRequest("invalid pod range: " + range.error().message);
  if (range->prefix < 8 || range->prefix > 28) return Error::badRequest("the pod range " + cidr + " must have a prefix between /8 and /28");
  prefix_ = uint32_t(range->prefix);
  network_ = range->network;
  gateway_ = ipv4String(network_ + 1);
  cidr_ = cidr;
  mtu_ = mtu;
  std::error_code ec;
  fs::create_directories(options_.stateDir + "/netns", ec);
  fs::create_directories(options_.stateDir + "/ips", ec);
  if (ec) return Error::unavailable("cannot create " + options_.stateDir + ": " + ec.message());
  // Leases from another range (this node's Node was replaced and got a new one while pods were
  // left behind) are void: those pods get addresses from the new range.
  for (const auto& e : fs::directory_iterator(options_.stateDir + "/ips", ec)) {
    auto leased = parseIpv4(e.path().filename().string());
    if (leased && range->contains(*leased)) continue;
    log::info("network", "dropping the lease of " + e.path().filename().string() + ": outside this node's range " + cidr);
    fs::remove(e.path(), ec);
  }
  Netlink nl;
  if (!nl.ok()) return Error::unavailable("cannot open a netlink socket (the native runtime needs root)");
  if (!nl.linkIndex(options_.bridge)) {
    if (Status s = nl.createBridge(options_.bridge); !s) return s;
    createdBridge_ = true;
  }
  if (Status s = nl.addAddress(options_.bridge, gateway_, int(prefix_)); !s) return s;
  if (Status s = nl.setUp(options_.bridge); !s) return s;
  configured_ = true;
  return {};
}

std::string PodNetwork::heldLease(const std::string& podUid) {
  std::lock_guard lock(mutex_);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.stateDir + "/ips", ec)) {
    std::ifstream in(e.path());
    std::string owner;
    in >> owner;
    if (owner == podUid) return e.path().filename().string();
  }
  return "";
}

Result<std::string> PodNetwork::leaseAddress(const std::string& podUid) {
  std::lock_guard lock(mutex_);
  uint32_t size = uint32_t(1) << (32 - prefix_);
  for (uint32_t tries = 0; tries < size; ++tries) {
    uint32_t host = next_;
    next_ = next_ + 1 >= size - 1 ? 2 : next_ + 1;  // round robin: a freed address is not reused at once
    std::string ip = ipv4String(network_ + host);
    int fd = open((options_.stateDir + "/ips/" + ip).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) continue;
    ssize_t n = write(fd, podUid.data(), podUid.size());
    close(fd);
    if (n == ssize_t(podUid.size())) return ip;
  }
  return Error::unavailable("the pod range " + cidr_ + " has no free addresses left");
}

Result<PodNetworkAttachment> PodNetwork::setUp(const std::string& podUid) {
  if (!configured_) return Error::unavailable("the pod network is not ready: this node has no pod range (spec.podCIDR) yet");
  PodNetworkAttachment att;
  att.netnsPath = options_.stateDir + "/netns/" + podUid;
  att.hostInterface = hostInterfaceFor(podUid);
  Netlink host;
  att.ip = heldLease(podUid);
  if (!att.ip.empty() && host.linkIndex(att.hostInterface) && fs::exists(att.netnsPath)) return att;  // set up before a restart
  tearDown(podUid);
  auto ip = leaseAddress(podUid);
  if (!ip) return ip.error();
  att.ip = *ip;
  Status result;
  // unshare() moves only this thread into the new namespace, so do it on a thread of its own.
  std::thread([&] {
    auto fail = [&](Error e) { result = std::move(e); };
    Netlink outside;  // opened before unshare: talks to the host namespace
    { int fd = open(att.netnsPath.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0444); if (fd >= 0) close(fd); }
    if (unshare(CLONE_NEWNET) != 0) return fail(Error::internal(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno)));
    if (mount("/proc/thread-self/ns/net", att.netnsPath.c_str(), nullptr, MS_BIND, nullptr) != 0)
      return fail(Error::internal("pinning the pod network namespace at " + att.netnsPath + ": " + std::strerror(errno)));
    int nsFd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    Netlink inside;
    Status s = inside.setUp("lo");
    if (s) s = outside.createVethPair(att.hostInterface, "eth0", nsFd, mtu_);
    close(nsFd);
    if (s) s = outside.setMaster(att.hostInterface, options_.bridge);
    if (s) s = outside.setUp(att.hostInterface);
    if (s) s = inside.addAddress("eth0", att.ip, int(prefix_));
    if (s) s = inside.setUp("eth0");
    if (s) s = inside.addDefaultRoute(gateway_);
    if (!s) fail(s.error());
  }).join();
  if (!result) {
    tearDown(podUid);
    return Error::internal("setting up the pod network: " + result.error().message);
  }
  return att;
}

void PodNetwork::tearDown(const std::string& podUid) {
  Netlink nl;
  (void)nl.deleteLink(hostInterfaceFor(podUid));
  std::string ns = options_.stateDir + "/netns/" + podUid;
  umount2(ns.c_str(), MNT_DETACH);
  unlink(ns.c_str());
  std::lock_guard lock(mutex_);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.stateDir + "/ips", ec)) {
    std::ifstream in(e.path());
    std::string owner;
    in >> owner;
    if (owner == podUid) fs::remove(e.path(), ec);
  }
}

void PodNetwork::shutdown() {
  // The bridge is ours by name even when an earlier (killed) skiff created it.
  Netlink nl;
  (void)nl.deleteLink(options_.bridge);
  createdBridge_ = false;
}

}  // namespace skiff::network
