#include "network/host_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

namespace skiff::network {
namespace {

// The interface of the IPv4 default route with the lowest metric, from /proc/net/route.
std::string defaultRouteInterface() {
  std::ifstream in("/proc/net/route");
  std::string line, best;
  long bestMetric = -1;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
    if (destination != "00000000" || mask != "00000000") continue;
    long m = std::strtol(metric.c_str(), nullptr, 10);
    if (bestMetric < 0 || m < bestMetric) {
      best = iface;
      bestMetric = m;
    }
  }
  return best;
}

}  // namespace

std::string defaultRouteAddress() {
  std::string iface = defaultRouteInterface();
  if (iface.empty()) return "";
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return "";
  std::string out;
  for (ifaddrs* a = all; a && out.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || iface != a->ifa_name) continue;
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf)) out = buf;
  }
  freeifaddrs(all);
  return out;
}

}  // namespace skiff::network
