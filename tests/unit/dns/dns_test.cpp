// Cluster DNS: the wire format, Kubernetes' record rules, and the server over real UDP and TCP
// sockets, forwarding to an upstream (a second server of ours) for names outside its zone.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "dns/cluster_resolver.h"
#include "dns/dns_server.h"
#include "dns/message.h"

using namespace skiff::dns;
namespace json = boost::json;

namespace {

std::string encodeQuery(uint16_t id, const std::string& name, uint16_t type) {
  std::string q;
  q += char(id >> 8);
  q += char(id & 0xff);
  q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    q += char(label.size());
    q += label;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  q += '\0';
  q += char(type >> 8);
  q += char(type & 0xff);
  q += std::string("\x00\x01", 2);
  return q;
}

uint8_t rcodeOf(const std::string& reply) { return uint8_t(reply[3] & 0x0f); }
uint16_t answerCount(const std::string& reply) { return uint16_t((uint8_t(reply[6]) << 8) | uint8_t(reply[7])); }
// The last 4 bytes of a reply whose last answer is an A record.
std::string lastA(const std::string& reply) {
  in_addr a;
  std::memcpy(&a, reply.data() + reply.size() - 4, 4);
  return inet_ntoa(a);
}

std::shared_ptr<const json::value> obj(const char* text) { return std::make_shared<const json::value>(json::parse(text)); }

ClusterView cluster() {
  std::vector<ObjectPtr> services, pods;
  services = {obj(R"({"metadata":{"name":"web","namespace":"shop"},"spec":{"clusterIP":"10.96.0.10","selector":{"app":"web"},"ports":[{"name":"http","port":80}]}})"),
                obj(R"({"metadata":{"name":"db","namespace":"shop"},"spec":{"clusterIP":"None","selector":{"app":"db"}}})"),
                obj(R"({"metadata":{"name":"ext","namespace":"shop"},"spec":{"type":"ExternalName","externalName":"example.org"}})")};
  pods = {obj(R"({"metadata":{"name":"db-0","namespace":"shop","labels":{"app":"db"}},"spec":{"hostname":"db-0","subdomain":"db"},"status":{"podIP":"10.244.0.7","conditions":[{"type":"Ready","status":"True"}]}})"),
            obj(R"({"metadata":{"name":"db-1","namespace":"shop","labels":{"app":"db"}},"spec":{"hostname":"db-1","subdomain":"db"},"status":{"podIP":"10.244.0.8","conditions":[{"type":"Ready","status":"False"}]}})")};
  return ClusterView::of(services, pods);
}

Resolution ask(const std::string& name, uint16_t type = kA) { return resolveClusterName(Question{name, type, 1}, cluster()); }

TEST(ClusterDns, ServicesPodsAndReverseNames) {
  auto r = ask("web.shop.svc.cluster.local");
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].data, std::string("\x0a\x60\x00\x0a", 4));
  // Headless: only ready pods.
  r = ask("db.shop.svc.cluster.local");
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].data, std::string("\x0a\xf4\x00\x07", 4));
  EXPECT_EQ(ask("db-0.db.shop.svc.cluster.local").answers.size(), 1u);
  EXPECT_EQ(ask("nope.shop.svc.cluster.local").rcode, kNXDomain);
  EXPECT_EQ(ask("web.other.svc.cluster.local").rcode, kNXDomain);
  // AAAA for an existing name: NODATA, not NXDOMAIN.
  r = ask("web.shop.svc.cluster.local", kAAAA);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_TRUE(r.answers.empty());
  r = ask("_http._tcp.web.shop.svc.cluster.local", kSRV);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].port, 80);
  EXPECT_EQ(r.answers[0].data, "web.shop.svc.cluster.local");
  r = ask("ext.shop.svc.cluster.local");
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].type, kCNAME);
  r = ask("10-244-0-9.shop.pod.cluster.local");
  ASSERT_EQ(r.answers.size(), 1u);
  r = ask("10.0.96.10.in-addr.arpa", kPTR);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].data, "web.shop.svc.cluster.local");
  EXPECT_TRUE(ask("example.org").forward);
  EXPECT_TRUE(ask("4.3.2.1.in-addr.arpa", kPTR).forward);
}

TEST(ClusterDns, MalformedQueriesAreRefusedNotCrashed) {
  EXPECT_FALSE(parseQuery("short").ok());
  std::string loop = encodeQuery(1, "a", kA);
  loop[12] = char(0xc0);
  loop[13] = 12;  // a name pointing at itself
  EXPECT_FALSE(parseQuery(loop).ok());
  DnsServer server({"127.0.0.1", 0, "cluster.local", {"127.0.0.1:9"}}, cluster());
  std::string reply = server.answer(loop);
  ASSERT_EQ(reply.size(), 12u);
  EXPECT_EQ(rcodeOf(reply), kFormErr);
}

std::string udpExchange(uint16_t port, const std::string& packet) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  std::string out;
  if (::poll(&p, 1, 5000) > 0) {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.assign(buf, size_t(n));
  }
  close(fd);
  return out;
}

std::string tcpExchange(uint16_t port, const std::string& packet) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string framed{char(packet.size() >> 8), char(packet.size() & 0xff)};
    framed += packet;
    (void)!write(fd, framed.data(), framed.size());
    char len[2];
    if (recv(fd, len, 2, MSG_WAITALL) == 2) {
      out.resize((size_t(uint8_t(len[0])) << 8) | uint8_t(len[1]));
      if (recv(fd, out.data(), out.size(), MSG_WAITALL) != ssize_t(out.size())) out.clear();
    }
  }
  close(fd);
  return out;
}

TEST(DnsServer, AnswersOverUdpAndTcpAndForwardsTheRest) {
  // The upstream: another server, authoritative for its own zone.
  DnsServer upstream({"127.0.0.1", 0, "upstream.test", {}}, cluster());
  ASSERT_TRUE(upstream.start().ok());
  DnsServer server({"127.0.0.1", 0, "cluster.local", {"127.0.0.1:" + std::to_string(upstream.port())}}, cluster());
  ASSERT_TRUE(server.start().ok());
  std::string r = udpExchange(server.port(), encodeQuery(7, "web.shop.svc.cluster.local", kA));
  ASSERT_GE(r.size(), 12u);
  EXPECT_EQ(r[0], 0);
  EXPECT_EQ(r[1], 7);
  EXPECT_EQ(rcodeOf(r), kNoError);
  EXPECT_EQ(answerCount(r), 1);
  EXPECT_EQ(lastA(r), "10.96.0.10");
  r = tcpExchange(server.port(), encodeQuery(8, "WEB.Shop.svc.cluster.local", kA));
  ASSERT_GE(r.size(), 12u);
  EXPECT_EQ(lastA(r), "10.96.0.10");
  // Outside our zone: forwarded, over both protocols.
  r = udpExchange(server.port(), encodeQuery(9, "web.shop.svc.upstream.test", kA));
  ASSERT_GE(r.size(), 12u);
  EXPECT_EQ(answerCount(r), 1);
  EXPECT_EQ(lastA(r), "10.96.0.10");
  r = tcpExchange(server.port(), encodeQuery(10, "nope.shop.svc.upstream.test", kA));
  ASSERT_GE(r.size(), 12u);
  EXPECT_EQ(rcodeOf(r), kNXDomain);
  server.stop();
  upstream.stop();
}

}  // namespace
