#include "kustomize/kustomize.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace skiff::kustomize {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(SKIFF_FIXTURES_DIR) / "kustomize";

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// expected.yaml was written by `kubectl kustomize` (kustomize v5); the e2e test re-checks it.
TEST(Kustomize, ThreeLevelOverlayMatchesKubectlKustomize) {
  auto objects = build(kFixtures / "overlay3" / "top");
  ASSERT_TRUE(objects) << objects.error().message;
  EXPECT_EQ(toYamlStream(*objects), readFile(kFixtures / "overlay3" / "expected.yaml"));
}

std::string errorOf(const std::string& fixture) {
  auto objects = build(kFixtures / fixture);
  return objects ? std::string("(built without error)") : objects.error().message;
}

TEST(Kustomize, ACycleBetweenKustomizationsIsAnErrorNamingTheChain) {
  std::string e = errorOf("bad-cycle/a");
  EXPECT_NE(e.find("cycle between kustomizations"), std::string::npos) << e;
  EXPECT_NE(e.find("bad-cycle/b"), std::string::npos) << e;
}

TEST(Kustomize, BadInputNamesTheFile) {
  std::string missing = errorOf("bad-missing");
  EXPECT_NE(missing.find("nothere.yaml"), std::string::npos) << missing;
  EXPECT_NE(missing.find("does not exist"), std::string::npos) << missing;
  std::string notYaml = errorOf("bad-notyaml");
  EXPECT_NE(notYaml.find("junk.yaml"), std::string::npos) << notYaml;
  std::string unknown = errorOf("bad-unknown");
  EXPECT_NE(unknown.find("unknown field \"namePrefx\""), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("bad-unknown/kustomization.yaml"), std::string::npos) << unknown;
  std::string remote = errorOf("bad-remote");
  EXPECT_NE(remote.find("remote URL"), std::string::npos) << remote;
  EXPECT_FALSE(build(kFixtures / "no-such-dir"));
}

}  // namespace
}  // namespace skiff::kustomize
