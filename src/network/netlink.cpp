#include "network/netlink.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::network {
namespace {

// A request buffer that appends attributes and nests them.
struct Message {
  alignas(NLMSG_ALIGNTO) char buf[1024];
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf); }

  Message(uint16_t type, uint16_t flags) {
    std::memset(buf, 0, sizeof buf);
    hdr()->nlmsg_len = NLMSG_LENGTH(0);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = uint16_t(NLM_F_REQUEST | NLM_F_ACK | flags);
  }
  template <class T>
  T* body() {
    auto* p = reinterpret_cast<T*>(buf + hdr()->nlmsg_len);
    hdr()->nlmsg_len = NLMSG_ALIGN(hdr()->nlmsg_len) + uint32_t(sizeof(T));
    return p;
  }
  rtattr* attr(uint16_t type, const void* data, size_t len) {
    auto* a = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(hdr()->nlmsg_len));
    a->rta_type = type;
    a->rta_len = uint16_t(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = NLMSG_ALIGN(hdr()->nlmsg_len) + uint32_t(RTA_ALIGN(a->rta_len));
    return a;
  }
  rtattr* str(uint16_t type, const std::string& s) { return attr(type, s.c_str(), s.size() + 1); }
  rtattr* begin(uint16_t type) { return attr(type, nullptr, 0); }
  void end(rtattr* nest) { nest->rta_len = uint16_t(buf + hdr()->nlmsg_len - reinterpret_cast<char*>(nest)); }
};

}  // namespace

Netlink::Netlink() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return;
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

Netlink::~Netlink() {
  if (fd_ >= 0) close(fd_);
}

Status Netlink::transact(void* message, uint32_t length, const std::string& what, int* linkIndexOut) {
  if (fd_ < 0) return Error::unavailable("netlink socket unavailable: " + what);
  auto* h = static_cast<nlmsghdr*>(message);
  h->nlmsg_seq = ++seq_;
  if (send(fd_, message, length, 0) < 0) return Error::internal(what + ": " + std::strerror(errno));
  alignas(NLMSG_ALIGNTO) char reply[4096];
  while (true) {
    ssize_t n = recv(fd_, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::internal(what + ": " + std::strerror(errno));
    }
    for (auto* r = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(r, uint32_t(n)); r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != seq_) continue;
      if (r->nlmsg_type == RTM_NEWLINK && linkIndexOut) {
        *linkIndexOut = static_cast<ifinfomsg*>(NLMSG_DATA(r))->ifi_index;
        continue;  // the acknowledgement follows
      }
      if (r->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(r));
        if (err->error == 0) return {};
        return Error::internal(what + ": " + std::strerror(-err->error));
      }
    }
  }
}

Result<int> Netlink::linkIndex(const std::string& name) {
  // Asked over this socket, so the answer is about the socket's namespace (if_nametoindex would
  // look in the calling thread's, which differs while a pod namespace is being set up).
  Message m(RTM_GETLINK, 0);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, name);
  int index = 0;
  Status s = transact(m.buf, m.hdr()->nlmsg_len, "looking up " + name, &index);
  if (!s || index == 0) return Error::notFound("no network interface named " + name);
  return index;
}

Status Netlink::createBridge(const std::string& name) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, name);
  rtattr* info = m.begin(IFLA_LINKINFO);
  m.str(IFLA_INFO_KIND, "bridge");
  m.end(info);
  return transact(m.buf, m.hdr()->nlmsg_len, "creating bridge " + name);
}

Status Netlink::createVethPair(const std::string& hostName, const std::string& peerName, int netnsFd) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, hostName);
  rtattr* info = m.begin(IFLA_LINKINFO);
  m.str(IFLA_INFO_KIND, "veth");
  rtattr* data = m.begin(IFLA_INFO_DATA);
  rtattr* peer = m.begin(VETH_INFO_PEER);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, peerName);
  uint32_t fd = uint32_t(netnsFd);
  m.attr(IFLA_NET_NS_FD, &fd, sizeof fd);
  m.end(peer);
  m.end(data);
  m.end(info);
  return transact(m.buf, m.hdr()->nlmsg_len, "creating veth pair " + hostName + "/" + peerName);
}

Status Netlink::setUp(const std::string& name) {
  auto idx = linkIndex(name);
  if (!idx) return idx.error();
  Message m(RTM_NEWLINK, 0);
  auto* ifi = m.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = *idx;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  return transact(m.buf, m.hdr()->nlmsg_len, "setting " + name + " up");
}

Status Netlink::setMaster(const std::string& name, const std::string& master) {
  auto idx = linkIndex(name);
  if (!idx) return idx.error();
  auto midx = linkIndex(master);
  if (!midx) return midx.error();
  Message m(RTM_NEWLINK, 0);
  auto* ifi = m.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = *idx;
  uint32_t mi = uint32_t(*midx);
  m.attr(IFLA_MASTER, &mi, sizeof mi);
  return transact(m.buf, m.hdr()->nlmsg_len, "attaching " + name + " to " + master);
}

Status Netlink::deleteLink(const std::string& name) {
  auto idx = linkIndex(name);
  if (!idx) return idx.error();
  Message m(RTM_DELLINK, 0);
  auto* ifi = m.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = *idx;
  return transact(m.buf, m.hdr()->nlmsg_len, "deleting " + name);
}

Status Netlink::addAddress(const std::string& name, const std::string& address, int prefix) {
  return changeAddress(RTM_NEWADDR, name, address, prefix);
}

Status Netlink::deleteAddress(const std::string& name, const std::string& address, int prefix) {
  return changeAddress(RTM_DELADDR, name, address, prefix);
}

Status Netlink::changeAddress(uint16_t type, const std::string& name, const std::string& address, int prefix) {
  auto idx = linkIndex(name);
  if (!idx) return idx.error();
  in_addr a{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1) return Error::badRequest("invalid IPv4 address " + address);
  Message m(type, type == RTM_NEWADDR ? (NLM_F_CREATE | NLM_F_REPLACE) : 0);
  auto* ifa = m.body<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = uint8_t(prefix);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = uint32_t(*idx);
  m.attr(IFA_LOCAL, &a, sizeof a);
  m.attr(IFA_ADDRESS, &a, sizeof a);
  return transact(m.buf, m.hdr()->nlmsg_len,
                  std::string(type == RTM_NEWADDR ? "adding " : "removing ") + address + "/" + std::to_string(prefix) + " on " + name);
}

Status Netlink::addDefaultRoute(const std::string& gateway) {
  in_addr gw{};
  if (inet_pton(AF_INET, gateway.c_str(), &gw) != 1) return Error::badRequest("invalid gateway " + gateway);
  Message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  auto* rt = m.body<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  m.attr(RTA_GATEWAY, &gw, sizeof gw);
  return transact(m.buf, m.hdr()->nlmsg_len, "adding a default route via " + gateway);
}

}  // namespace skiff::network
