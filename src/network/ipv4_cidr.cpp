#include "network/ipv4_cidr.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace skiff::network {

Result<uint32_t> parseIpv4(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return Error::badRequest("\"" + text + "\" is not an IPv4 address (like 10.244.1.7)");
  return ntohl(a.s_addr);
}

std::string ipv4String(uint32_t hostOrder) {
  in_addr a{htonl(hostOrder)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Result<Ipv4Cidr> Ipv4Cidr::parse(const std::string& text) {
  auto bad = [&](const std::string& why) { return Error::badRequest("\"" + text + "\" is not an IPv4 range like 10.244.0.0/16: " + why); };
  auto slash = text.find('/');
  if (slash == std::string::npos) return bad("no /prefix");
  auto address = parseIpv4(text.substr(0, slash));
  if (!address) return bad("the address part is not an IPv4 address");
  std::string bits = text.substr(slash + 1);
  char* end = nullptr;
  long prefix = std::strtol(bits.c_str(), &end, 10);
  if (bits.empty() || *end || prefix < 0 || prefix > 32) return bad("the prefix must be a number from 0 to 32");
  Ipv4Cidr cidr{*address, int(prefix)};
  if ((*address & cidr.mask()) != *address)
    return bad("host bits are set (the network is " + ipv4String(*address & cidr.mask()) + "/" + bits + ")");
  return cidr;
}

}  // namespace skiff::network
