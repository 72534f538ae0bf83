// Fuzz target: DNS query parsing and answering (pods send the node's DNS server what they like).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/cluster_resolver.h"
#include "dns/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::dns;
  static const ClusterView cluster = ClusterView::of(
      {std::make_shared<const boost::json::value>(boost::json::parse(
          R"({"metadata":{"name":"web","namespace":"ns"},"spec":{"clusterIP":"10.96.0.1","ports":[{"name":"http","port":80}]}})"))},
      {});
  auto q = parseQuery(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!q) return 0;
  Resolution r = resolveClusterName(q->question, cluster);
  (void)buildResponse(*q, r.rcode, r.answers, true);
  return 0;
}
