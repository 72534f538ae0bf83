#include "helm/release_storage.h"

#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "api/selector.h"
#include "common/base64.h"

namespace skiff::helm {
namespace json = boost::json;

namespace {

const api::ResourceType& secretType() { return *api::findByKind("v1", "Secret"); }

// data.release of a stored Secret, decoded; an error names the Secret.
Result<Release> releaseOfSecret(const json::value& secret) {
  const json::object* o = secret.if_object();
  const json::value* data = o ? o->if_contains("data") : nullptr;
  const json::value* rel = data && data->is_object() ? data->get_object().if_contains("release") : nullptr;
  if (!rel || !rel->is_string()) return Error::invalid("has no data.release");
  auto outer = base64Decode(rel->get_string());
  if (!outer) return Error::invalid("data.release is not base64");
  return decodeRelease(*outer);
}

}  // namespace

json::value releaseSecret(const Release& release, const std::string& timeLabel, int64_t unixSeconds) {
  json::object labels{{"name", release.name}, {"owner", "helm"}, {"status", statusName(release.info.status)},
                      {"version", std::to_string(release.version)}, {timeLabel, std::to_string(unixSeconds)}};
  return json::object{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", json::object{{"name", releaseSecretName(release.name, release.version)},
                                {"namespace", release.nameSpace}, {"labels", std::move(labels)}}},
      {"type", "helm.sh/release.v1"},
      {"data", json::object{{"release", base64Encode(encodeRelease(release))}}}};
}

ReleaseStorage::ReleaseStorage(client::Client& client) : client_(client) {}

Result<std::vector<Release>> ReleaseStorage::query(const std::string& ns, const std::string& selector) {
  auto labels = api::LabelSelector::parse(selector);
  if (!labels.ok()) return labels.error();
  client::ListOptions options;
  options.labels = *labels;
  auto list = client_.list(secretType(), ns, options);
  if (!list.ok()) return Error{list.error().code, list.error().reason, "list releases: " + list.error().message, {}};
  std::vector<Release> out;
  for (const auto& item : list->items) {
    auto r = releaseOfSecret(item);
    // Helm skips a Secret it cannot decode; so does skiff, so one bad Secret hides only itself.
    if (r.ok()) out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(), [](const Release& a, const Release& b) { return a.version < b.version; });
  return out;
}

Result<std::vector<Release>> ReleaseStorage::history(const std::string& ns, const std::string& name) {
  return query(ns, "owner=helm,name=" + name);
}

Result<std::vector<Release>> ReleaseStorage::latestOfEach(const std::string& ns) {
  auto all = query(ns, "owner=helm");
  if (!all.ok()) return all.error();
  std::map<std::pair<std::string, std::string>, Release> latest;
  for (auto& r : *all) {
    auto key = std::make_pair(r.nameSpace, r.name);
    auto it = latest.find(key);
    if (it == latest.end() || it->second.version < r.version) latest[key] = std::move(r);
  }
  std::vector<Release> out;
  for (auto& [_, r] : latest) out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const Release& a, const Release& b) { return a.name < b.name; });
  return out;
}

Status ReleaseStorage::create(const Release& release) {
  auto created = client_.create(secretType(), release.nameSpace, releaseSecret(release, "createdAt", *now() / 1'000'000'000));
  if (!created.ok()) {
    if (created.error().code == 409) return Error::conflict("release " + release.name + " revision " + std::to_string(release.version) + " already exists");
    return Error{created.error().code, created.error().reason, "create release record: " + created.error().message, {}};
  }
  return {};
}

Status ReleaseStorage::update(const Release& release) {
  std::string name = releaseSecretName(release.name, release.version);
  json::value secret = releaseSecret(release, "modifiedAt", *now() / 1'000'000'000);
  auto updated = client_.update(secretType(), release.nameSpace, name, std::move(secret), "");
  if (!updated.ok()) return Error{updated.error().code, updated.error().reason, "update release record " + name + ": " + updated.error().message, {}};
  return {};
}

Status ReleaseStorage::remove(const std::string& ns, const std::string& name, int version) {
  auto removed = client_.remove(secretType(), ns, releaseSecretName(name, version));
  if (!removed.ok() && removed.error().code != 404) return removed.error();
  return {};
}

Status ReleaseStorage::prune(const std::string& ns, const std::string& name, int max) {
  if (max <= 0) return {};
  auto all = history(ns, name);
  if (!all.ok()) return all.error();
  int lastDeployed = 0;
  for (const auto& r : *all)
    if (r.info.status == ReleaseStatus::Deployed) lastDeployed = std::max(lastDeployed, r.version);
  int excess = int(all->size()) - max;
  for (const auto& r : *all) {
    if (excess <= 0) break;
    if (r.version == lastDeployed) continue;
    if (auto st = remove(ns, name, r.version); !st.ok()) return st;
    --excess;
  }
  return {};
}

}  // namespace skiff::helm
