#include "network/netlink.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <cstring>
#include <vector>

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
  template <class T>
  rtattr* value(uint16_t type, T v) { return attr(type, &v, sizeof v); }
  rtattr* begin(uint16_t type) { return attr(type, nullptr, 0); }
  void end(rtattr* nest) { nest->rta_len = uint16_t(buf + hdr()->nlmsg_len - reinterpret_cast<char*>(nest)); }
};

// Network-order IPv4 for attributes from a host-order address.
uint32_t wire(uint32_t hostOrder) { return htonl(hostOrder); }

// Walks the attributes of one message body (or of a nested attribute).
template <class F>
void forEachAttribute(const rtattr* first, int length, F&& f) {
  for (const rtattr* a = first; RTA_OK(a, length); a = RTA_NEXT(a, length)) f(a);
}

uint32_t u32At(const rtattr* a) {
  uint32_t v = 0;
  std::memcpy(&v, RTA_DATA(a), std::min<size_t>(sizeof v, RTA_PAYLOAD(a)));
  return v;
}

LinkDetails parseLink(const nlmsghdr* r) {
  LinkDetails d;
  auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(r));
  d.index = ifi->ifi_index;
  forEachAttribute(IFLA_RTA(ifi), int(IFLA_PAYLOAD(r)), [&](const rtattr* a) {
    if (a->rta_type == IFLA_MTU) d.mtu = int(u32At(a));
    if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == d.mac.size()) std::memcpy(d.mac.data(), RTA_DATA(a), d.mac.size());
    if (a->rta_type != IFLA_LINKINFO) return;
    forEachAttribute(static_cast<const rtattr*>(RTA_DATA(a)), int(RTA_PAYLOAD(a)), [&](const rtattr* info) {
      if (info->rta_type == IFLA_INFO_KIND) d.kind.assign(static_cast<const char*>(RTA_DATA(info)), strnlen(static_cast<const char*>(RTA_DATA(info)), RTA_PAYLOAD(info)));
      if (info->rta_type != IFLA_INFO_DATA) return;
      forEachAttribute(static_cast<const rtattr*>(RTA_DATA(info)), int(RTA_PAYLOAD(info)), [&](const rtattr* v) {
        if (v->rta_type == IFLA_VXLAN_ID) d.vxlanId = u32At(v);
        if (v->rta_type == IFLA_VXLAN_LOCAL) d.vxlanLocal = ntohl(u32At(v));
        if (v->rta_type == IFLA_VXLAN_LINK) d.vxlanUnderlay = int(u32At(v));
        if (v->rta_type == IFLA_VXLAN_PORT) {
          uint16_t port = 0;
          std::memcpy(&port, RTA_DATA(v), sizeof port);
          d.vxlanPort = ntohs(port);
        }
      });
    });
  });
  return d;
}

}  // namespace

std::string macString(const MacAddress& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

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

Status Netlink::exchange(void* message, uint32_t length, const std::string& what, bool dump,
                         const std::function<void(const nlmsghdr*)>& onMessage) {
  if (fd_ < 0) return Error::unavailable("netlink socket unavailable: " + what);
  auto* h = static_cast<nlmsghdr*>(message);
  h->nlmsg_seq = ++seq_;
  if (send(fd_, message, length, 0) < 0) return Error::internal(what + ": " + std::strerror(errno));
  // Dumps come in multi-part messages of up to a few pages each.
  std::vector<char> reply(65536);
  while (true) {
    ssize_t n = recv(fd_, reply.data(), reply.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::internal(what + ": " + std::strerror(errno));
    }
    for (auto* r = reinterpret_cast<nlmsghdr*>(reply.data()); NLMSG_OK(r, uint32_t(n)); r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != seq_) continue;
      if (r->nlmsg_type == NLMSG_DONE && dump) return {};
      if (r->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(r));
        if (err->error == 0) return {};
        return Error::internal(what + ": " + std::strerror(-err->error));
      }
      onMessage(r);
    }
  }
}

Status Netlink::transact(void* message, uint32_t length, const std::string& what, int* linkIndexOut) {
  return exchange(message, length, what, false, [&](const nlmsghdr* r) {
    if (r->nlmsg_type == RTM_NEWLINK && linkIndexOut) *linkIndexOut = static_cast<const ifinfomsg*>(NLMSG_DATA(r))->ifi_index;
  });
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

Status Netlink::createVethPair(const std::string& hostName, const std::string& peerName, int netnsFd, int mtu) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, hostName);
  uint32_t mtuValue = uint32_t(mtu);
  if (mtu > 0) m.attr(IFLA_MTU, &mtuValue, sizeof mtuValue);
  rtattr* info = m.begin(IFLA_LINKINFO);
  m.str(IFLA_INFO_KIND, "veth");
  rtattr* data = m.begin(IFLA_INFO_DATA);
  rtattr* peer = m.begin(VETH_INFO_PEER);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, peerName);
  if (mtu > 0) m.attr(IFLA_MTU, &mtuValue, sizeof mtuValue);
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

namespace skiff::network {

Result<LinkDetails> Netlink::linkDetails(const std::string& name) {
  Message m(RTM_GETLINK, 0);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, name);
  std::optional<LinkDetails> found;
  Status s = exchange(m.buf, m.hdr()->nlmsg_len, "looking up " + name, false, [&](const nlmsghdr* r) {
    if (r->nlmsg_type == RTM_NEWLINK) found = parseLink(r);
  });
  if (!s || !found) return Error::notFound("no network interface named " + name);
  return *found;
}

Result<LinkDetails> Netlink::linkDetails(int index) {
  Message m(RTM_GETLINK, 0);
  auto* ifi = m.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  std::optional<LinkDetails> found;
  Status s = exchange(m.buf, m.hdr()->nlmsg_len, "looking up interface " + std::to_string(index), false, [&](const nlmsghdr* r) {
    if (r->nlmsg_type == RTM_NEWLINK) found = parseLink(r);
  });
  if (!s || !found) return Error::notFound("no network interface with index " + std::to_string(index));
  return *found;
}

Result<LinkDetails> Netlink::linkHoldingAddress(uint32_t address) {
  Message m(RTM_GETADDR, NLM_F_DUMP);
  m.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  m.body<ifaddrmsg>()->ifa_family = AF_INET;
  int index = 0;
  Status s = exchange(m.buf, m.hdr()->nlmsg_len, "listing addresses", true, [&](const nlmsghdr* r) {
    if (r->nlmsg_type != RTM_NEWADDR) return;
    auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(r));
    forEachAttribute(IFA_RTA(ifa), int(IFA_PAYLOAD(r)), [&](const rtattr* a) {
      if (a->rta_type == IFA_LOCAL && ntohl(u32At(a)) == address && index == 0) index = int(ifa->ifa_index);
    });
  });
  if (!s) return s.error();
  if (index == 0) return Error::notFound("no interface here holds " + ipv4String(address));
  return linkDetails(index);
}

Status Netlink::createVxlan(const VxlanSpec& spec) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  m.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.str(IFLA_IFNAME, spec.name);
  m.attr(IFLA_ADDRESS, spec.mac.data(), spec.mac.size());
  if (spec.mtu > 0) m.value<uint32_t>(IFLA_MTU, uint32_t(spec.mtu));
  rtattr* info = m.begin(IFLA_LINKINFO);
  m.str(IFLA_INFO_KIND, "vxlan");
  rtattr* data = m.begin(IFLA_INFO_DATA);
  m.value<uint32_t>(IFLA_VXLAN_ID, spec.vni);
  m.value<uint32_t>(IFLA_VXLAN_LOCAL, wire(spec.local));
  if (spec.underlay > 0) m.value<uint32_t>(IFLA_VXLAN_LINK, uint32_t(spec.underlay));
  m.value<uint16_t>(IFLA_VXLAN_PORT, htons(spec.port));
  // Entries come from the Nodes, never from snooping traffic (flannel's "nolearning").
  m.value<uint8_t>(IFLA_VXLAN_LEARNING, 0);
  m.end(data);
  m.end(info);
  return transact(m.buf, m.hdr()->nlmsg_len, "creating VXLAN device " + spec.name);
}

Status Netlink::replaceRoute(const Ipv4Cidr& destination, uint32_t gateway, int oif, bool onlink) {
  Message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  auto* rt = m.body<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = uint8_t(destination.prefix);
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  if (onlink) rt->rtm_flags = RTNH_F_ONLINK;
  m.value<uint32_t>(RTA_DST, wire(destination.network));
  if (gateway) m.value<uint32_t>(RTA_GATEWAY, wire(gateway));
  m.value<uint32_t>(RTA_OIF, uint32_t(oif));
  return transact(m.buf, m.hdr()->nlmsg_len, "routing " + destination.str() + " via " + ipv4String(gateway));
}

Status Netlink::deleteRoute(const Ipv4Cidr& destination, int oif) {
  Message m(RTM_DELROUTE, 0);
  auto* rt = m.body<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = uint8_t(destination.prefix);
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_scope = RT_SCOPE_NOWHERE;
  m.value<uint32_t>(RTA_DST, wire(destination.network));
  m.value<uint32_t>(RTA_OIF, uint32_t(oif));
  return transact(m.buf, m.hdr()->nlmsg_len, "removing the route to " + destination.str());
}

Result<std::vector<RouteEntry>> Netlink::routesThrough(int oif) {
  Message m(RTM_GETROUTE, 0);
  m.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  m.body<rtmsg>()->rtm_family = AF_INET;
  std::vector<RouteEntry> out;
  Status s = exchange(m.buf, m.hdr()->nlmsg_len, "listing routes", true, [&](const nlmsghdr* r) {
    if (r->nlmsg_type != RTM_NEWROUTE) return;
    auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(r));
    uint32_t table = rt->rtm_table, dst = 0, gateway = 0;
    int outIf = 0;
    forEachAttribute(RTM_RTA(rt), int(RTM_PAYLOAD(r)), [&](const rtattr* a) {
      if (a->rta_type == RTA_TABLE) table = u32At(a);
      if (a->rta_type == RTA_DST) dst = ntohl(u32At(a));
      if (a->rta_type == RTA_GATEWAY) gateway = ntohl(u32At(a));
      if (a->rta_type == RTA_OIF) outIf = int(u32At(a));
    });
    if (table != RT_TABLE_MAIN || outIf != oif || rt->rtm_type != RTN_UNICAST) return;
    out.push_back({Ipv4Cidr{dst, rt->rtm_dst_len}, gateway});
  });
  if (!s) return s.error();
  return out;
}

Status Netlink::changeNeighbour(uint16_t type, uint16_t flags, uint8_t family, int index, uint16_t state, uint8_t ntfFlags,
                                const uint32_t* address, const MacAddress* mac, const std::string& what) {
  Message m(type, flags);
  auto* nd = m.body<ndmsg>();
  nd->ndm_family = family;
  nd->ndm_ifindex = index;
  nd->ndm_state = state;
  nd->ndm_flags = ntfFlags;
  if (address) m.value<uint32_t>(NDA_DST, wire(*address));
  if (mac) m.attr(NDA_LLADDR, mac->data(), mac->size());
  return transact(m.buf, m.hdr()->nlmsg_len, what);
}

Status Netlink::replaceNeighbour(int index, uint32_t address, const MacAddress& mac) {
  return changeNeighbour(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_INET, index, NUD_PERMANENT, 0, &address, &mac,
                         "adding the neighbour " + ipv4String(address) + " at " + macString(mac));
}

Status Netlink::deleteNeighbour(int index, uint32_t address) {
  return changeNeighbour(RTM_DELNEIGH, 0, AF_INET, index, 0, 0, &address, nullptr, "removing the neighbour " + ipv4String(address));
}

Status Netlink::replaceFdb(int index, const MacAddress& mac, uint32_t destination) {
  return changeNeighbour(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_BRIDGE, index, NUD_PERMANENT, NTF_SELF, &destination, &mac,
                         "sending " + macString(mac) + " to " + ipv4String(destination));
}

Status Netlink::deleteFdb(int index, const MacAddress& mac, uint32_t destination) {
  return changeNeighbour(RTM_DELNEIGH, 0, AF_BRIDGE, index, 0, NTF_SELF, &destination, &mac,
                         "removing the forwarding entry of " + macString(mac));
}

Result<std::vector<NeighbourEntry>> Netlink::dumpNeighbours(uint8_t family, int index) {
  Message m(RTM_GETNEIGH, 0);
  m.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  m.body<ndmsg>()->ndm_family = family;
  std::vector<NeighbourEntry> out;
  Status s = exchange(m.buf, m.hdr()->nlmsg_len, "listing neighbours", true, [&](const nlmsghdr* r) {
    if (r->nlmsg_type != RTM_NEWNEIGH) return;
    auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(r));
    if (nd->ndm_ifindex != index || nd->ndm_family != family || !(nd->ndm_state & NUD_PERMANENT)) return;
    NeighbourEntry e;
    bool hasMac = false;
    forEachAttribute(reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(nd) + NLMSG_ALIGN(sizeof(ndmsg))),
                     int(r->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg))), [&](const rtattr* a) {
                       if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) e.address = ntohl(u32At(a));
                       if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == e.mac.size()) {
                         std::memcpy(e.mac.data(), RTA_DATA(a), e.mac.size());
                         hasMac = true;
                       }
                     });
    if (hasMac) out.push_back(e);
  });
  if (!s) return s.error();
  return out;
}

Result<std::vector<NeighbourEntry>> Netlink::neighbours(int index) { return dumpNeighbours(AF_INET, index); }

Result<std::vector<NeighbourEntry>> Netlink::fdb(int index) { return dumpNeighbours(AF_BRIDGE, index); }

}  // namespace skiff::network
