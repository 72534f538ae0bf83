// A Helm 3 release as Helm stores it: the record (name, revision, status, chart, user values,
// rendered manifest, hooks) and its encoding, base64(gzip(JSON)), with Go's field names and time
// format, so that a real helm client reads the releases skiff writes and the other way round.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "helm/chart.h"

namespace skiff::helm {

// Nanoseconds since the Unix epoch; nullopt is Go's zero time ("0001-01-01T00:00:00Z").
using Timestamp = std::optional<int64_t>;
Timestamp now();
// Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC.
std::string formatTime(const Timestamp& t);
Result<Timestamp> parseTime(std::string_view text);
// As `helm status` and `helm history` print it: "Mon Jan  2 15:04:05 2006".
std::string formatTimeHuman(const Timestamp& t);

enum class ReleaseStatus { Unknown, Deployed, Uninstalled, Superseded, Failed, Uninstalling, PendingInstall, PendingUpgrade, PendingRollback };
std::string statusName(ReleaseStatus status);  // "deployed", "pending-install", ...
ReleaseStatus parseStatus(std::string_view name);

struct HookExecution {
  Timestamp startedAt, completedAt;
  std::string phase;  // "", Running, Succeeded, Failed
};

struct Hook {
  std::string name, kind, path, manifest;
  std::vector<std::string> events;          // pre-install, post-upgrade, test, ...
  HookExecution lastRun;
  int weight = 0;
  std::vector<std::string> deletePolicies;  // before-hook-creation, hook-succeeded, hook-failed
};

struct ReleaseInfo {
  Timestamp firstDeployed, lastDeployed, deleted;
  std::string description;
  ReleaseStatus status = ReleaseStatus::Unknown;
  std::string notes;
};

struct Release {
  std::string name;
  std::string nameSpace;
  int version = 0;
  ReleaseInfo info;
  Value chart;   // Helm's chart JSON: metadata, lock, templates, values, schema, files
  Value config;  // the user-supplied values (null or an empty map when none)
  std::string manifest;  // the non-hook manifests, "---\n# Source: path\n<doc>\n" each
  std::vector<Hook> hooks;

  std::string chartName() const;     // chart.metadata.name
  std::string chartVersion() const;   // chart.metadata.version
  std::string appVersion() const;     // chart.metadata.appVersion
  Value chartValues() const;          // chart.values (the chart's defaults)
};

// The chart as Helm serialises it inside a release (subcharts are not kept, as in Helm).
Value chartToJson(const Chart& chart);

Value releaseToJson(const Release& release);
Result<Release> releaseFromJson(const Value& json);
// base64(gzip(JSON)), what the Secret's data.release holds (the Secret's own base64 comes on top).
std::string encodeRelease(const Release& release);
// Accepts gzip'd or plain JSON after the base64, as Helm's decoder does.
Result<Release> decodeRelease(std::string_view encoded);

// "sh.helm.release.v1.<name>.v<version>"
std::string releaseSecretName(const std::string& name, int version);

// gzip (RFC 1952) at zlib's best compression, as Helm writes it.
std::string gzipCompress(std::string_view data);

}  // namespace skiff::helm
