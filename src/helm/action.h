// Helm 3's release actions over client::Client: install, upgrade, rollback, uninstall and test,
// with the record of every revision kept by ReleaseStorage (Helm's Secret driver), hooks around
// each step, and the same statuses and descriptions Helm writes (pending-* while working,
// deployed/superseded/failed/uninstalled after).
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "helm/kube.h"
#include "helm/release_storage.h"

namespace skiff::helm {

struct ActionContext {
  client::Client& client;
  KindResolver resolve;
};

struct DeployOptions {
  std::string name, nameSpace = "default";
  bool wait = false;
  std::chrono::milliseconds timeout{300000};  // Helm's 5m0s, for hooks and --wait
};

struct InstallOptions : DeployOptions {
  const Chart* chart = nullptr;
  Value values;  // user-supplied (-f, --set)
  bool createNamespace = false;
  bool skipCrds = false;  // --skip-crds: leave the chart's crds/ alone
};
Result<Release> install(ActionContext& ctx, const InstallOptions& options);

struct UpgradeOptions : InstallOptions {
  bool install = false;  // --install: install when the release does not exist
  bool reuseValues = false, resetValues = false;
  bool valuesGiven = false;  // any -f/--set: without them Helm reuses the last values
  int historyMax = 10;
};
struct UpgradeResult {
  Release release;
  bool installed = false;  // --install made a first revision
};
Result<UpgradeResult> upgrade(ActionContext& ctx, const UpgradeOptions& options);

struct RollbackOptions : DeployOptions {
  int revision = 0;  // 0: the one before the current
  int historyMax = 10;
};
Result<Release> rollback(ActionContext& ctx, const RollbackOptions& options);

struct UninstallResult {
  Release release;
  std::vector<std::string> kept;  // "[Kind] name" left by helm.sh/resource-policy: keep
};
Result<UninstallResult> uninstall(ActionContext& ctx, const DeployOptions& options, bool keepHistory);

// Runs the test hooks of the current revision and records their last run.
Result<Release> test(ActionContext& ctx, const DeployOptions& options);

// The newest revision of a release; Helm's "release: not found" when there is none.
Result<Release> latest(ActionContext& ctx, const std::string& ns, const std::string& name);

}  // namespace skiff::helm
