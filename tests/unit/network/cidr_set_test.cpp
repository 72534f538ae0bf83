// IPv4 ranges and the node IPAM's set: parsing at the edge, and handing out /24s of a cluster
// CIDR without ever giving one twice, round robin after a release, with a clear error when full.
#include "network/cidr_set.h"

#include <gtest/gtest.h>

#include <set>

namespace skiff::network {
namespace {

Ipv4Cidr cidr(const std::string& text) {
  auto c = Ipv4Cidr::parse(text);
  EXPECT_TRUE(c.ok()) << text;
  return c.ok() ? *c : Ipv4Cidr{};
}

TEST(Ipv4Cidr, ParsesOneSpellingPerRange) {
  auto c = Ipv4Cidr::parse("10.244.0.0/16");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->str(), "10.244.0.0/16");
  EXPECT_EQ(c->size(), 65536u);
  EXPECT_TRUE(c->contains(*parseIpv4("10.244.255.7")));
  EXPECT_FALSE(c->contains(*parseIpv4("10.245.0.1")));
  auto hostBits = Ipv4Cidr::parse("10.244.1.5/16");
  ASSERT_FALSE(hostBits.ok());
  EXPECT_NE(hostBits.error().message.find("host bits are set (the network is 10.244.0.0/16)"), std::string::npos);
  for (const char* bad : {"10.244.0.0", "10.244.0.0/33", "10.244.0.0/", "10.244.0.0/x", "10.244.0/16", "eth0/16", ""})
    EXPECT_FALSE(Ipv4Cidr::parse(bad).ok()) << bad;
  EXPECT_TRUE(cidr("10.244.0.0/16").overlaps(cidr("10.244.3.0/24")));
  EXPECT_TRUE(cidr("10.244.3.0/24").overlaps(cidr("10.244.0.0/16")));
  EXPECT_FALSE(cidr("10.244.3.0/24").overlaps(cidr("10.244.4.0/24")));
}

TEST(CidrSet, HandsOutEachRangeOnceAndSaysWhenFull) {
  auto set = CidrSet::create(cidr("10.244.0.0/22"), 24);
  ASSERT_TRUE(set.ok());
  std::set<std::string> got;
  for (int i = 0; i < 4; ++i) {
    auto next = set->allocateNext();
    ASSERT_TRUE(next.ok());
    got.insert(next->str());
  }
  EXPECT_EQ(got, (std::set<std::string>{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}));
  auto full = set->allocateNext();
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message.find("has no free /24 left"), std::string::npos);
  EXPECT_NE(full.error().message.find("--cluster-cidr"), std::string::npos);
  EXPECT_EQ(set->used(), 4u);
}

TEST(CidrSet, AReleasedRangeIsNotHandedOutAtOnce) {
  auto set = CidrSet::create(cidr("10.244.0.0/16"), 24);
  ASSERT_TRUE(set.ok());
  auto a = set->allocateNext(), b = set->allocateNext();
  ASSERT_TRUE(a.ok() && b.ok());
  set->release(*a);
  EXPECT_TRUE(set->free(*a));
  auto c = set->allocateNext();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->str(), "10.244.2.0/24") << "routes to a freed range may still linger on other nodes";
}

TEST(CidrSet, OccupiedRangesAreSkipped) {
  auto set = CidrSet::create(cidr("10.244.0.0/16"), 24);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(set->occupy(cidr("10.244.0.0/24")).ok());
  ASSERT_TRUE(set->occupy(cidr("10.244.1.0/25")).ok());  // smaller than a node's range: takes the /24 holding it
  ASSERT_TRUE(set->occupy(cidr("10.244.2.0/23")).ok());  // larger: takes both /24s
  EXPECT_EQ(set->used(), 4u);
  auto next = set->allocateNext();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->str(), "10.244.4.0/24");
  auto outside = set->occupy(cidr("10.213.0.0/24"));
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("outside the cluster CIDR 10.244.0.0/16"), std::string::npos);
  EXPECT_FALSE(set->occupy(cidr("10.0.0.0/8")).ok()) << "a range wider than the cluster's is not the cluster's";
  EXPECT_EQ(set->used(), 5u);
}

TEST(CidrSet, RefusesMaskSizesThatDoNotFit) {
  EXPECT_FALSE(CidrSet::create(cidr("10.244.0.0/16"), 15).ok());
  auto tooMany = CidrSet::create(cidr("10.0.0.0/8"), 30);
  ASSERT_FALSE(tooMany.ok());
  EXPECT_NE(tooMany.error().message.find("more than 65536"), std::string::npos);
  EXPECT_TRUE(CidrSet::create(cidr("10.0.0.0/8"), 24).ok());
}

}  // namespace
}  // namespace skiff::network
