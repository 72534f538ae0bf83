// Decision rate of the scheduling algorithm alone (no API, no store): schedule() for pods with
// node affinity against 5,000 nodes, with Google Benchmark.
#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <deque>

#include "scheduler/scheduler.h"

namespace {
namespace json = boost::json;
using namespace skiff::scheduler;

struct Cluster {
  std::deque<json::value> nodes;
  std::vector<NodeInfo> infos;
  explicit Cluster(int n) {
    for (int i = 0; i < n; ++i) {
      nodes.push_back(json::parse(R"({"metadata":{"name":"n)" + std::to_string(i) + R"(","labels":{"topology.kubernetes.io/zone":"zone-)" +
                                  std::to_string(i % 3) + R"("}},"spec":{},"status":{"allocatable":{"cpu":"8","memory":"32Gi","pods":"110"},
                                  "conditions":[{"type":"Ready","status":"True"}]}})"));
      infos.push_back(makeNodeInfo(nodes.back()));
      infos.back().requested = {int64_t(i % 50) * 100, int64_t(i % 70) << 24, i % 100};
    }
  }
};

void BM_ScheduleWithAffinity(benchmark::State& state) {
  static Cluster cluster(int(state.range(0)));
  json::value pod = json::parse(R"({"metadata":{"name":"p"},"spec":{"affinity":{"nodeAffinity":{
      "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"NotIn","values":["zone-2"]}]}]},
      "preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"preference":{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-1"]}]}}]}},
      "containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}})");
  size_t offset = 0;
  for (auto _ : state) {
    Decision d = schedule(pod, cluster.infos, offset++ % cluster.infos.size());
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_ScheduleWithAffinity)->Arg(5000);

}  // namespace

BENCHMARK_MAIN();
