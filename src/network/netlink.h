// Just enough rtnetlink to build a pod network: bridges, veth pairs (the peer created straight in
// a pod's namespace), addresses, link state and default routes. Every call is one request with an
// acknowledgement; errors come back as the kernel's errno in words.
#pragma once
#include <cstdint>
#include <string>

#include "common/result.h"

namespace skiff::network {

// A netlink socket bound to the network namespace of the thread that opened it.
class Netlink {
 public:
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  bool ok() const { return fd_ >= 0; }

  Result<int> linkIndex(const std::string& name);
  Status createBridge(const std::string& name);
  // Creates `hostName` here and its peer `peerName` inside the namespace open at `netnsFd`.
  Status createVethPair(const std::string& hostName, const std::string& peerName, int netnsFd);
  Status setUp(const std::string& name);
  Status setMaster(const std::string& name, const std::string& master);
  Status deleteLink(const std::string& name);
  // address "10.244.0.5", prefix 16.
  Status addAddress(const std::string& name, const std::string& address, int prefix);
  Status deleteAddress(const std::string& name, const std::string& address, int prefix);
  Status addDefaultRoute(const std::string& gateway);

 private:
  Status transact(void* message, uint32_t length, const std::string& what, int* linkIndexOut = nullptr);
  Status changeAddress(uint16_t type, const std::string& name, const std::string& address, int prefix);
  int fd_ = -1;
  uint32_t seq_ = 1;
};

}  // namespace skiff::network
