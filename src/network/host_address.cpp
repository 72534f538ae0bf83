#include "network/host_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

namespace skiff::network {

std::string defaultRouteAddress() {
  std::ifstream routes("/proc/net/route");
  std::string line, iface;
  std::getline(routes, line);  // header
  while (std::getline(routes, line)) {
    std::istringstream fields(line);
    std::string name, destination, gateway, flags;
    if (!(fields >> name >> destination >> gateway >> flags)) continue;
    if (destination == "00000000" && (std::stoul(flags, nullptr, 16) & 0x1)) {  // RTF_UP
      iface = name;
      break;
    }
  }
  if (iface.empty()) return "";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string out;
  for (ifaddrs* a = list; a; a = a->ifa_next)
    if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && iface == a->ifa_name) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
      out = buf;
      break;
    }
  freeifaddrs(list);
  return out;
}

}  // namespace skiff::network
