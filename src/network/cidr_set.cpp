#include "network/cidr_set.h"

namespace skiff::network {

CidrSet::CidrSet(Ipv4Cidr cluster, int subnetPrefix)
    : cluster_(cluster), subnetPrefix_(subnetPrefix), taken_(size_t(1) << (subnetPrefix - cluster.prefix), false) {}

Result<CidrSet> CidrSet::create(Ipv4Cidr cluster, int subnetPrefix) {
  if (subnetPrefix < cluster.prefix || subnetPrefix > 30)
    return Error::badRequest("the node CIDR mask size /" + std::to_string(subnetPrefix) + " must lie between the cluster CIDR's /" +
                             std::to_string(cluster.prefix) + " and /30");
  if (subnetPrefix - cluster.prefix > 16)
    return Error::badRequest("the node CIDR mask size /" + std::to_string(subnetPrefix) + " cuts " + cluster.str() +
                             " into more than 65536 ranges; use a mask at most 16 bits longer than the cluster CIDR's");
  return CidrSet(cluster, subnetPrefix);
}

Ipv4Cidr CidrSet::subnet(size_t index) const {
  return Ipv4Cidr{cluster_.network + uint32_t(uint64_t(index) << (32 - subnetPrefix_)), subnetPrefix_};
}

bool CidrSet::indices(const Ipv4Cidr& cidr, size_t& first, size_t& last) const {
  if (!cluster_.overlaps(cidr)) return false;
  if (cidr.contains(cluster_)) {  // the whole cluster range (or more)
    first = 0;
    last = taken_.size() - 1;
    return true;
  }
  // cidr lies inside the cluster: the subnets from the one holding its first address to the one
  // holding its last.
  uint32_t lastAddress = cidr.network + uint32_t(cidr.size() - 1);
  first = size_t((cidr.network - cluster_.network) >> (32 - subnetPrefix_));
  last = size_t((lastAddress - cluster_.network) >> (32 - subnetPrefix_));
  return true;
}

Result<Ipv4Cidr> CidrSet::allocateNext() {
  for (size_t i = 0; i < taken_.size(); ++i) {
    size_t index = (next_ + i) % taken_.size();
    if (taken_[index]) continue;
    taken_[index] = true;
    ++used_;
    next_ = (index + 1) % taken_.size();
    return subnet(index);
  }
  return Error::unavailable("the cluster CIDR " + cluster_.str() + " has no free /" + std::to_string(subnetPrefix_) + " left (" +
                            std::to_string(taken_.size()) + " nodes hold one each); start the servers with a larger --cluster-cidr");
}

Status CidrSet::occupy(const Ipv4Cidr& cidr) {
  size_t first = 0, last = 0;
  if (!indices(cidr, first, last) || !cluster_.contains(cidr))
    return Error::badRequest(cidr.str() + " is outside the cluster CIDR " + cluster_.str());
  for (size_t i = first; i <= last; ++i)
    if (!taken_[i]) {
      taken_[i] = true;
      ++used_;
    }
  return {};
}

void CidrSet::release(const Ipv4Cidr& cidr) {
  size_t first = 0, last = 0;
  if (!indices(cidr, first, last) || !cluster_.contains(cidr)) return;
  for (size_t i = first; i <= last; ++i)
    if (taken_[i]) {
      taken_[i] = false;
      --used_;
    }
}

bool CidrSet::free(const Ipv4Cidr& cidr) const {
  size_t first = 0, last = 0;
  if (!indices(cidr, first, last)) return true;
  for (size_t i = first; i <= last; ++i)
    if (taken_[i]) return false;
  return true;
}

}  // namespace skiff::network
