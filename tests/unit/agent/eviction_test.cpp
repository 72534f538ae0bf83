// The kubelet's local-storage eviction decisions: which limit, in which order, in its words; and
// the bounded disk-usage walk.
#include "agent/eviction.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

namespace skiff::agent {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

StorageLimits limitsOf(const char* spec) { return storageLimitsOf(json::parse(std::string(R"({"spec":)") + spec + "}")); }

constexpr int64_t Mi = 1024 * 1024;

TEST(StorageLimits, ReadsContainerLimitsTheirSumAndEmptyDirSizeLimits) {
  auto l = limitsOf(R"({"containers":[{"name":"a","resources":{"limits":{"ephemeral-storage":"50Mi"}}},
                                      {"name":"b","resources":{"limits":{"ephemeral-storage":"1Gi"}}},{"name":"c"}],
                        "volumes":[{"name":"d","emptyDir":{"sizeLimit":"20Mi"}},{"name":"m","emptyDir":{"medium":"Memory","sizeLimit":"1Mi"}},
                                   {"name":"e","emptyDir":{}}]})");
  ASSERT_EQ(l.containers.size(), 3u);
  EXPECT_EQ(l.containers[0].bytes, 50 * Mi);
  EXPECT_EQ(l.containers[2].bytes, -1);
  EXPECT_EQ(l.pod.bytes, 1074 * Mi);
  EXPECT_EQ(l.pod.text, "1074Mi");
  ASSERT_EQ(l.emptyDirs.size(), 2u);  // the memory-backed one is tmpfs-limited, not measured
  EXPECT_EQ(l.emptyDirs[0].text, "20Mi");
  EXPECT_EQ(l.emptyDirs[1].bytes, -1);
  EXPECT_TRUE(l.any());
  EXPECT_FALSE(limitsOf(R"({"containers":[{"name":"a"}],"volumes":[{"name":"e","emptyDir":{}}]})").any());
}

TEST(EvictionMessage, ThePodsTotalComesBeforeItsContainer) {
  auto l = limitsOf(R"({"containers":[{"name":"c","resources":{"limits":{"ephemeral-storage":"50Mi"}}}]})");
  EXPECT_EQ(evictionMessage(l, {{{"c", 50 * Mi}}, {}}), std::nullopt);  // at the limit is within it
  EXPECT_EQ(evictionMessage(l, {{{"c", 120 * Mi}}, {}}), "Pod ephemeral local storage usage exceeds the total limit of containers 50Mi. ");
}

TEST(EvictionMessage, AContainerPastItsOwnLimitWithinThePodsTotal) {
  auto l = limitsOf(R"({"containers":[{"name":"hog","resources":{"limits":{"ephemeral-storage":"50Mi"}}},
                                      {"name":"idle","resources":{"limits":{"ephemeral-storage":"500Mi"}}}]})");
  EXPECT_EQ(evictionMessage(l, {{{"hog", 80 * Mi}, {"idle", Mi}}, {}}), "Container hog exceeded its local ephemeral storage limit \"50Mi\". ");
}

TEST(EvictionMessage, EmptyDirSizeLimitFirstAndEmptyDirsCountTowardsThePod) {
  auto l = limitsOf(R"({"containers":[{"name":"c","resources":{"limits":{"ephemeral-storage":"100M"}}}],
                        "volumes":[{"name":"scratch","emptyDir":{"sizeLimit":"20Mi"}},{"name":"big","emptyDir":{}}]})");
  EXPECT_EQ(evictionMessage(l, {{{"c", 200 * Mi}}, {{"scratch", 40 * Mi}}}), "Usage of EmptyDir volume \"scratch\" exceeds the limit \"20Mi\". ");
  EXPECT_EQ(evictionMessage(l, {{{"c", 10 * Mi}}, {{"big", 100 * Mi}}}), "Pod ephemeral local storage usage exceeds the total limit of containers 100M. ");
  EXPECT_EQ(evictionMessage(l, {{{"c", 10 * Mi}}, {{"scratch", 10 * Mi}}}), std::nullopt);
}

TEST(QuantityText, PrintsAsKubernetesDoes) {
  EXPECT_EQ(quantityText(50 * Mi, true), "50Mi");
  EXPECT_EQ(quantityText(1536 * Mi, true), "1536Mi");
  EXPECT_EQ(quantityText(100000000, false), "100M");
  EXPECT_EQ(quantityText(1000, true), "1000");
}

TEST(DiskUsage, CountsAllocatedBytesAndStopsAtItsBudget) {
  fs::path dir = fs::temp_directory_path() / ("skiff-du-" + std::to_string(getpid()));
  fs::create_directories(dir / "sub");
  {
    std::ofstream big(dir / "sub" / "big", std::ios::binary);
    std::string mb(Mi, 'x');
    for (int i = 0; i < 3; ++i) big << mb;
  }
  for (int i = 0; i < 50; ++i) std::ofstream(dir / ("f" + std::to_string(i))) << "x";
  fs::create_hard_link(dir / "sub" / "big", dir / "link");  // counted once
  int64_t all = diskUsage(dir.string(), 1000);
  EXPECT_GE(all, 3 * Mi);
  EXPECT_LT(all, 4 * Mi);
  EXPECT_LT(diskUsage(dir.string(), 5), all);  // a budget of five entries stops early
  EXPECT_EQ(diskUsage((dir / "missing").string(), 1000), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace skiff::agent
