// Chart repository indexes read as Helm reads them: newest non-pre-release by semantic version,
// an exact --version, relative download URLs, and Helm's messages for what is missing.
#include "helm/repository.h"

#include <gtest/gtest.h>

#include "api/codec.h"

namespace skiff::helm {
namespace {

Value index() {
  auto docs = api::decodeManifests(R"(apiVersion: v1
entries:
  web:
  - {name: web, version: 1.9.2, urls: [web-1.9.2.tgz]}
  - {name: web, version: 1.10.0, urls: ["https://charts.example/web-1.10.0.tgz"]}
  - {name: web, version: 2.0.0-rc.1, urls: [web-2.0.0-rc.1.tgz]}
  empty: []
)");
  return (*docs)[0];
}

TEST(HelmRepository, NewestReleaseVersionBySemver) {
  auto v = findChartVersion(index(), "http://r", "web", "");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->version, "1.10.0");  // not 1.9.2 (string order), not the rc
  EXPECT_EQ(v->urls, std::vector<std::string>{"https://charts.example/web-1.10.0.tgz"});
}

TEST(HelmRepository, ExactVersionIncludingPreRelease) {
  auto v = findChartVersion(index(), "http://r", "web", "2.0.0-rc.1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->urls, std::vector<std::string>{"web-2.0.0-rc.1.tgz"});
  auto old = findChartVersion(index(), "http://r", "web", "1.9.2");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->version, "1.9.2");
}

TEST(HelmRepository, MissingChartsAndVersions) {
  EXPECT_EQ(findChartVersion(index(), "http://r", "db", "").error().message, "chart \"db\" not found in http://r repository");
  EXPECT_EQ(findChartVersion(index(), "http://r", "empty", "").error().message, "chart \"empty\" not found in http://r repository");
  EXPECT_EQ(findChartVersion(index(), "http://r", "web", "3.0.0").error().message,
            "chart \"web\" version \"3.0.0\" not found in http://r repository");
}

TEST(HelmRepository, CompareVersions) {
  EXPECT_LT(compareVersions("1.9.2", "1.10.0"), 0);
  EXPECT_GT(compareVersions("2.0.0", "2.0.0-rc.1"), 0);
  EXPECT_EQ(compareVersions("v1.2.3", "1.2.3+build.5"), 0);
  EXPECT_LT(compareVersions("1.2", "1.2.1"), 0);
}

}  // namespace
}  // namespace skiff::helm
