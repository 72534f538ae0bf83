// CidrSet: the node IPAM's bookkeeping — which subnets of the cluster CIDR are handed out, as
// kube-controller-manager's cidrset does for --allocate-node-cidrs. Pure data, no I/O; the
// controller (controller/node_ipam_controller.h) rebuilds it from the Nodes after a restart.
//
// Allocation is round robin from the last subnet handed out, so a range freed by a deleted
// node is not handed to the next node at once (routes to it may still linger on other nodes).
#pragma once
#include <vector>

#include "network/ipv4_cidr.h"

namespace skiff::network {

class CidrSet {
 public:
  // Subnets of /subnetPrefix carved from `cluster`. The subnet prefix must be at least the
  // cluster's and at most 16 bits longer (65,536 subnets), as kube-controller-manager requires.
  static Result<CidrSet> create(Ipv4Cidr cluster, int subnetPrefix);

  // The next free subnet; an error when every subnet is taken.
  Result<Ipv4Cidr> allocateNext();
  // Marks the subnets `cidr` covers as taken (a node's podCIDR seen after a restart, or one an
  // agent brought with --pod-cidr). Outside the cluster CIDR: an error, nothing marked.
  Status occupy(const Ipv4Cidr& cidr);
  // Frees the subnets `cidr` covers; ranges outside the cluster CIDR are ignored.
  void release(const Ipv4Cidr& cidr);
  // Whether every subnet `cidr` covers is free.
  bool free(const Ipv4Cidr& cidr) const;
  size_t used() const { return used_; }
  size_t capacity() const { return taken_.size(); }
  const Ipv4Cidr& cluster() const { return cluster_; }
  int subnetPrefix() const { return subnetPrefix_; }

 private:
  CidrSet(Ipv4Cidr cluster, int subnetPrefix);
  // Indices [first, last] of the subnets `cidr` covers; false when it is outside the cluster.
  bool indices(const Ipv4Cidr& cidr, size_t& first, size_t& last) const;
  Ipv4Cidr subnet(size_t index) const;

  Ipv4Cidr cluster_;
  int subnetPrefix_;
  std::vector<bool> taken_;
  size_t used_ = 0;
  size_t next_ = 0;  // where the next search starts
};

}  // namespace skiff::network
