// Helm releases: the storage codec against Helm's documented layout (Secret driver: base64 of
// gzip of the release JSON with Go's field names), install/uninstall ordering, the upgrade diff,
// ownership checks, and the actions against a real in-process API (LocalApi).
#include "helm/release.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include <boost/json.hpp>

#include "common/base64.h"
#include "helm/action.h"
#include "helm/kube.h"
#include "helm/release_storage.h"
#include "helpers/local_api.h"

namespace skiff::helm {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;

// Inflates with zlib directly (not the code under test), as `gunzip` would.
std::string gunzipWithZlib(const std::string& data) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  int rc = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string("<not gzip>");
}

// The JSON Helm's release struct marshals to (field order as declared in pkg/release), for the
// release built by fixedRelease(); written by hand from Helm's json tags.
constexpr const char* kFixedJson =
    R"({"name":"demo","info":{"first_deployed":"2024-01-02T03:04:05.5Z","last_deployed":"2024-01-02T03:04:05.5Z",)"
    R"("deleted":"0001-01-01T00:00:00Z","description":"Install complete","status":"deployed","notes":"hi"},)"
    R"("chart":{"metadata":{"name":"demo","version":"0.1.0","appVersion":"1.0"},"lock":null,)"
    R"("templates":[{"name":"templates/cm.yaml","data":"a2luZDogQ29uZmlnTWFw"}],"values":{"replicas":1},"schema":null,"files":[]},)"
    R"("config":{"replicas":2},"manifest":"---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n",)"
    R"("hooks":[{"name":"setup","kind":"Job","path":"demo/templates/job.yaml","manifest":"kind: Job",)"
    R"("events":["pre-install","pre-upgrade"],"last_run":{"started_at":"0001-01-01T00:00:00Z",)"
    R"("completed_at":"0001-01-01T00:00:00Z","phase":""},"weight":-5,"delete_policies":["hook-succeeded"]}],)"
    R"("version":1,"namespace":"default"})";

// The same JSON gzipped and base64-encoded by Python's gzip and base64 modules (an independent
// encoder), as a Helm Secret's data.release holds it once the Secret's own base64 is removed.
constexpr const char* kFixedEncoded =
    "H4sIAAAAAAAC/41STYsbMQz9K0G9ZrLOdHPoXLsstNBDaWghTQhajybjxmMbf+yyhPz3yp5M2FBaCj7Y0pOenvxOYHAgaKClwcIclOksNCfolA9x35LT9pVazteivq/EshL1WrxvxH0jVovVhis0/"
    "iewJU2xQITI+XzWQjTljIAgvXJRWcOgTyZE1Hom7eByIQM4EFMow17o5mBspBzqFZznIHv0Mc8/UMQWI+b7rcJn8mFkEIvlQnAEnft+DeYQN9JWHqExSes5ROIJsND8vHa7Bu/"
    "ksHjFQWcBhRCw1mnzYA9f6w9pM2iz/vH4AucdU6NOucsJPAtQEvm+ZLIgexpwouuULlS7rMeaTh1uK2qOD2hUR4GlQlVVW/Nu9s0mL6mZZZV3fwy3NUdl2mb2sfT7gm5reN7e2uONqEAxOU5kMD8/"
    "2yd+OIz9ZX1vGv+yT5PsN8OMLGMdPZOJuT04T5UavzP341dyB48twe7iH59MFskQzxbZY/y7SyY//BvlegxZUf7LF1KHnrHVajLh3llepiprLluoQpKSqGVL7cpPTX5YzstugkM5eqjDpCOcfwMXlq/"
    "0OAMAAA==";

Release fixedRelease() {
  Chart chart;
  chart.name = "demo";
  chart.chartYaml = json::object{{"name", "demo"}, {"version", "0.1.0"}, {"appVersion", "1.0"}};
  chart.values = json::object{{"replicas", 1.0}};  // as YAML values arrive: float64
  chart.templates["templates/cm.yaml"] = "kind: ConfigMap";
  Release r;
  r.name = "demo";
  r.nameSpace = "default";
  r.version = 1;
  r.info.firstDeployed = r.info.lastDeployed = *parseTime("2024-01-02T03:04:05.5Z");
  r.info.description = "Install complete";
  r.info.status = ReleaseStatus::Deployed;
  r.info.notes = "hi";
  r.chart = chartToJson(chart);
  r.config = json::object{{"replicas", 2.0}};
  r.manifest = "---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n";
  Hook h;
  h.name = "setup";
  h.kind = "Job";
  h.path = "demo/templates/job.yaml";
  h.manifest = "kind: Job";
  h.events = {"pre-install", "pre-upgrade"};
  h.weight = -5;
  h.deletePolicies = {"hook-succeeded"};
  r.hooks = {h};
  return r;
}

TEST(HelmReleaseCodec, EncodesHelmsLayoutBase64OfGzipOfJson) {
  std::string encoded = encodeRelease(fixedRelease());
  auto gz = base64Decode(encoded);
  ASSERT_TRUE(gz.has_value());
  ASSERT_GE(gz->size(), 3u);
  EXPECT_EQ(uint8_t((*gz)[0]), 0x1f);  // gzip magic, as Helm's decoder checks for
  EXPECT_EQ(uint8_t((*gz)[1]), 0x8b);
  EXPECT_EQ(uint8_t((*gz)[2]), 0x08);
  EXPECT_EQ(gunzipWithZlib(*gz), kFixedJson);
}

TEST(HelmReleaseCodec, DecodesAReleaseEncodedElsewhere) {
  auto r = decodeRelease(kFixedEncoded);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "demo");
  EXPECT_EQ(r->nameSpace, "default");
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(r->info.status, ReleaseStatus::Deployed);
  EXPECT_EQ(r->info.description, "Install complete");
  EXPECT_EQ(formatTime(r->info.lastDeployed), "2024-01-02T03:04:05.5Z");
  EXPECT_FALSE(r->info.deleted.has_value());
  EXPECT_EQ(r->chartName(), "demo");
  EXPECT_EQ(r->appVersion(), "1.0");
  EXPECT_EQ(r->manifest, "---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n");
  ASSERT_EQ(r->hooks.size(), 1u);
  EXPECT_EQ(r->hooks[0].weight, -5);
  EXPECT_EQ(r->hooks[0].events, (std::vector<std::string>{"pre-install", "pre-upgrade"}));
  EXPECT_EQ(r->hooks[0].deletePolicies, std::vector<std::string>{"hook-succeeded"});
  // Values come back as Go's decoder hands them to templates (float64).
  EXPECT_EQ(r->config, (json::value(json::object{{"replicas", 2.0}})));
  // And encoding it again gives Helm's JSON byte for byte.
  EXPECT_EQ(gunzipWithZlib(*base64Decode(encodeRelease(*r))), kFixedJson);
}

TEST(HelmReleaseCodec, RoundTripKeepsEveryField) {
  Release r = fixedRelease();
  r.info.status = ReleaseStatus::PendingRollback;
  r.info.deleted = *parseTime("2025-06-07T08:09:10.123456789Z");
  r.hooks[0].lastRun = {*parseTime("2025-06-07T08:09:11Z"), *parseTime("2025-06-07T08:09:12.25Z"), "Succeeded"};
  auto back = decodeRelease(encodeRelease(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(json::serialize(releaseToJson(*back)), json::serialize(releaseToJson(r)));
  EXPECT_EQ(back->info.status, ReleaseStatus::PendingRollback);
  EXPECT_EQ(formatTime(back->info.deleted), "2025-06-07T08:09:10.123456789Z");
  EXPECT_EQ(back->hooks[0].lastRun.phase, "Succeeded");
}

TEST(HelmReleaseCodec, PlainJsonAndBadDataAsHelmsDecoder) {
  // Releases stored before compression: base64 of plain JSON still decodes.
  auto plain = decodeRelease(base64Encode(kFixedJson));
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->name, "demo");
  EXPECT_FALSE(decodeRelease("!!not base64!!").ok());
  EXPECT_FALSE(decodeRelease(base64Encode("\x1f\x8b\x08garbage")).ok());
  EXPECT_FALSE(decodeRelease(base64Encode("{\"info\":{}}")).ok());  // no name or version
}

TEST(HelmReleaseCodec, GoTimeFormat) {
  EXPECT_EQ(formatTime(int64_t(1700000000123456789)), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(formatTime(int64_t(1700000000000000000)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatTime(int64_t(1700000000120000000)), "2023-11-14T22:13:20.12Z");
  EXPECT_EQ(formatTime(std::nullopt), "0001-01-01T00:00:00Z");
  auto offset = parseTime("2023-11-14T23:13:20.5+01:00");  // Helm writes local time with its offset
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(formatTime(*offset), "2023-11-14T22:13:20.5Z");
  EXPECT_FALSE(parseTime("yesterday").ok());
  EXPECT_FALSE(parseTime("9999-12-31T23:59:59Z").ok());  // beyond 64-bit nanoseconds: refused, not overflowed
}

TEST(HelmReleaseStorage, SecretAsHelmsDriverWritesIt) {
  Release r = fixedRelease();
  json::value s = releaseSecret(r, "createdAt", 1700000000);
  EXPECT_EQ(s.at("type"), "helm.sh/release.v1");
  EXPECT_EQ(s.at("metadata").at("name"), "sh.helm.release.v1.demo.v1");
  EXPECT_EQ(s.at("metadata").at("namespace"), "default");
  EXPECT_EQ(s.at("metadata").at("labels"), (json::value(json::object{{"name", "demo"}, {"owner", "helm"}, {"status", "deployed"},
                                                                   {"version", "1"}, {"createdAt", "1700000000"}})));
  // data.release is base64 (the Secret's) of the base64 Helm's driver produces.
  auto inner = base64Decode(s.at("data").at("release").as_string());
  ASSERT_TRUE(inner.has_value());
  auto back = decodeRelease(*inner);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "demo");
}

// ---- ordering and the upgrade diff ----

KindResolver builtinKinds() {
  return [](const std::string& apiVersion, const std::string& kind) -> Result<api::ResourceType> {
    const api::ResourceType* t = api::findByKind(apiVersion, kind);
    if (!t) return Error::notFound("no kind " + kind);
    return *t;
  };
}

std::string doc(const std::string& apiVersion, const std::string& kind, const std::string& name, const std::string& extra = "") {
  return "apiVersion: " + apiVersion + "\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n" + extra;
}

std::vector<KubeObject> objects(const std::vector<std::string>& docs) {
  std::vector<ManifestDocument> d;
  for (const auto& x : docs) d.push_back({"t/templates/x.yaml", x});
  auto o = parseObjects(d, "ns1", builtinKinds());
  EXPECT_TRUE(o.ok()) << o.error().message;
  return o.ok() ? *o : std::vector<KubeObject>{};
}

std::vector<std::string> kinds(const std::vector<KubeObject>& objs) {
  std::vector<std::string> out;
  for (const auto& o : objs) out.push_back(o.kind + "/" + o.name);
  return out;
}

TEST(HelmInstallOrder, SortsByHelmsKindOrderBothWays) {
  auto objs = objects({doc("apps/v1", "Deployment", "web"), doc("v1", "Service", "web"), doc("batch/v1", "Job", "j"),
                       doc("v1", "ConfigMap", "c"), doc("v1", "Namespace", "n"), doc("v1", "ServiceAccount", "sa"),
                       doc("v1", "Secret", "s"), doc("storage.k8s.io/v1", "StorageClass", "sc"),
                       doc("v1", "PersistentVolumeClaim", "pvc"), doc("networking.k8s.io/v1", "Ingress", "in")});
  sortByKind(objs, installOrder());
  EXPECT_EQ(kinds(objs), (std::vector<std::string>{"Namespace/n", "ServiceAccount/sa", "Secret/s", "ConfigMap/c",
                                                   "StorageClass/sc", "PersistentVolumeClaim/pvc", "Service/web",
                                                   "Deployment/web", "Job/j", "Ingress/in"}));
  sortByKind(objs, uninstallOrder());
  EXPECT_EQ(kinds(objs), (std::vector<std::string>{"Ingress/in", "Service/web", "Job/j", "Deployment/web",
                                                   "PersistentVolumeClaim/pvc", "StorageClass/sc", "ConfigMap/c", "Secret/s",
                                                   "ServiceAccount/sa", "Namespace/n"}));
}

TEST(HelmInstallOrder, ObjectsGetTheReleaseNamespaceUnlessClusterScoped) {
  auto objs = objects({doc("v1", "ConfigMap", "a"), doc("v1", "ConfigMap", "b", "  namespace: other\n"), doc("v1", "Namespace", "n")});
  ASSERT_EQ(objs.size(), 3u);
  EXPECT_EQ(objs[0].nameSpace, "ns1");
  EXPECT_EQ(objs[1].nameSpace, "other");
  EXPECT_EQ(objs[2].nameSpace, "");
  auto bad = parseObjects({{"t/templates/x.yaml", doc("example.com/v1", "Widget", "w")}}, "ns1", builtinKinds());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no matches for kind \"Widget\" in version \"example.com/v1\""), std::string::npos);
}

TEST(HelmInstallOrder, SplitManifestKeepsSources) {
  auto docs = splitManifest("---\n# Source: a/templates/one.yaml\nkind: A\n---\n# Source: a/templates/two.yaml\nkind: B\nx: 1\n");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].source, "a/templates/one.yaml");
  EXPECT_EQ(docs[1].source, "a/templates/two.yaml");
  EXPECT_EQ(docs[1].content, "kind: B\nx: 1\n");
}

TEST(HelmUpgradeDiff, DroppedDeletedChangedPatchedNewCreated) {
  auto before = objects({doc("v1", "ConfigMap", "old"), doc("apps/v1", "Deployment", "web", "spec: {replicas: 1}\n"),
                         doc("v1", "Service", "gone")});
  auto after = objects({doc("v1", "Secret", "fresh"), doc("apps/v1", "Deployment", "web", "spec: {replicas: 2}\n")});
  UpgradePlan plan = planUpgrade(before, after);
  EXPECT_EQ(kinds(plan.created()), std::vector<std::string>{"Secret/fresh"});
  // Applied in the target's install order: the new Secret before the changed Deployment.
  ASSERT_EQ(plan.apply.size(), 2u);
  EXPECT_EQ(plan.apply[0].target.kind, "Secret");
  EXPECT_FALSE(plan.apply[0].original.has_value());
  ASSERT_TRUE(plan.apply[1].original.has_value());
  EXPECT_EQ(plan.apply[1].original->object.at("spec").at("replicas"), 1);
  EXPECT_EQ(plan.apply[1].target.object.at("spec").at("replicas"), 2);
  // Removals in uninstall order: the Service before the ConfigMap.
  EXPECT_EQ(kinds(plan.remove), (std::vector<std::string>{"Service/gone", "ConfigMap/old"}));
  // Same name, other kind or namespace: a different object.
  auto moved = objects({doc("v1", "ConfigMap", "old", "  namespace: elsewhere\n")});
  UpgradePlan p2 = planUpgrade(before, moved);
  EXPECT_EQ(kinds(p2.created()), std::vector<std::string>{"ConfigMap/old"});
  EXPECT_EQ(p2.remove.size(), 3u);
}

TEST(HelmUpgradeDiff, ListItemsKeepWhatTheServerAddedAndLoseWhatTheChartDropped) {
  json::value original = json::parse(R"({"spec":{"ports":[{"port":80,"name":"http"}],
    "containers":[{"name":"c","image":"a:1","env":[{"name":"OLD","value":"1"}]}]}})");
  json::value target = json::parse(R"({"spec":{"ports":[{"port":80,"name":"http"},{"port":443}],
    "containers":[{"name":"c","image":"a:2"}]}})");
  json::value live = json::parse(R"({"spec":{"ports":[{"port":80,"name":"http","nodePort":30080,"protocol":"TCP"}],
    "containers":[{"name":"c","image":"a:1","env":[{"name":"OLD","value":"1"}],"imagePullPolicy":"IfNotPresent"}]}})");
  json::value merged = keepLiveListFields(original, target, live);
  EXPECT_EQ(merged, json::parse(R"({"spec":{"ports":[{"port":80,"name":"http","nodePort":30080,"protocol":"TCP"},{"port":443}],
    "containers":[{"name":"c","image":"a:2","imagePullPolicy":"IfNotPresent"}]}})"));
}

TEST(HelmOwnership, MessagesAsHelm) {
  json::value bare = json::object{{"metadata", json::object{{"name", "x"}}}};
  EXPECT_EQ(ownershipProblem(bare, "rel", "ns1"),
            "invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; "
            "annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"rel\"; "
            "annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"ns1\"");
  json::value other = bare;
  setOwnership(other, "first", "ns1");
  EXPECT_EQ(ownershipProblem(other, "second", "ns1"),
            "invalid ownership metadata; annotation validation error: key \"meta.helm.sh/release-name\" must equal \"second\": current value is \"first\"");
  EXPECT_EQ(ownershipProblem(other, "first", "ns1"), "");
}

TEST(HelmHooks, ParsedFromAnnotations) {
  auto hooks = parseHooks({{"c/templates/job.yaml",
                            doc("batch/v1", "Job", "migrate",
                                "  annotations:\n    helm.sh/hook: pre-install, pre-upgrade\n    helm.sh/hook-weight: \"-3\"\n"
                                "    helm.sh/hook-delete-policy: hook-succeeded,hook-failed\n")}});
  ASSERT_TRUE(hooks.ok());
  ASSERT_EQ(hooks->size(), 1u);
  EXPECT_EQ((*hooks)[0].name, "migrate");
  EXPECT_EQ((*hooks)[0].kind, "Job");
  EXPECT_EQ((*hooks)[0].events, (std::vector<std::string>{"pre-install", "pre-upgrade"}));
  EXPECT_EQ((*hooks)[0].weight, -3);
  EXPECT_EQ((*hooks)[0].deletePolicies, (std::vector<std::string>{"hook-succeeded", "hook-failed"}));
}

// ---- actions against the real Registry in process ----

class HelmActions : public ::testing::Test {
 protected:
  HelmActions() : api_("helm-actions"), ctx_{api_.client(), builtinKinds()} {
    dir_ = fs::temp_directory_path() / ("skiff-helm-chart-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  ~HelmActions() override { fs::remove_all(dir_); }

  // A chart whose templates are `templates` (file name → text).
  Chart chart(const std::map<std::string, std::string>& templates, const std::string& version = "0.1.0") {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "templates");
    std::ofstream(dir_ / "Chart.yaml") << "apiVersion: v2\nname: app\nversion: " << version << "\nappVersion: \"2.0\"\n";
    std::ofstream(dir_ / "values.yaml") << "image: nginx:1\n";
    for (const auto& [name, text] : templates) std::ofstream(dir_ / "templates" / name) << text;
    auto c = loadChart(dir_.string());
    EXPECT_TRUE(c.ok()) << c.error().message;
    return *c;
  }
  InstallOptions options(const Chart& c) {
    InstallOptions o;
    o.name = "rel";
    o.nameSpace = "default";
    o.chart = &c;
    o.values = json::object();
    return o;
  }
  Result<json::value> get(const std::string& apiVersion, const std::string& kind, const std::string& name) {
    return api_.client().get(*api::findByKind(apiVersion, kind), "default", name);
  }
  std::vector<std::string> secretNames() {
    auto list = api_.client().list(*api::findByKind("v1", "Secret"), "default", {});
    std::vector<std::string> out;
    for (const auto& s : list->items) out.emplace_back(s.at("metadata").at("name").as_string());
    std::sort(out.begin(), out.end());
    return out;
  }

  test_support::LocalApi api_;
  ActionContext ctx_;
  fs::path dir_;
};

const char* kDeployment =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n"
    "  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: \"{{ .Values.image }}\"}]}\n";
const char* kConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: \"1\"}\n";

TEST_F(HelmActions, InstallUpgradeRollbackUninstall) {
  ASSERT_TRUE(api_.ready());
  Chart v1 = chart({{"deploy.yaml", kDeployment}, {"cm.yaml", kConfigMap}});
  auto installed = install(ctx_, options(v1));
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_EQ(installed->info.status, ReleaseStatus::Deployed);
  auto web = get("apps/v1", "Deployment", "web");
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web->at("metadata").at("labels").at("app.kubernetes.io/managed-by"), "Helm");
  EXPECT_EQ(web->at("metadata").at("annotations").at("meta.helm.sh/release-name"), "rel");
  EXPECT_EQ(web->at("metadata").at("annotations").at("meta.helm.sh/release-namespace"), "default");
  EXPECT_EQ(secretNames(), std::vector<std::string>{"sh.helm.release.v1.rel.v1"});
  // A second install of the same name is refused as Helm refuses it.
  auto again = install(ctx_, options(v1));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "cannot re-use a name that is still in use");

  // Upgrade: the image changes, the ConfigMap is dropped and deleted.
  Chart v2 = chart({{"deploy.yaml", kDeployment}}, "0.2.0");
  UpgradeOptions up;
  static_cast<InstallOptions&>(up) = options(v2);
  up.values = json::object{{"image", "nginx:2"}};
  up.valuesGiven = true;
  auto upgraded = upgrade(ctx_, up);
  ASSERT_TRUE(upgraded.ok()) << upgraded.error().message;
  EXPECT_EQ(upgraded->release.version, 2);
  web = get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web->at("spec").at("template").at("spec").at("containers").at(0).at("image"), "nginx:2");
  EXPECT_EQ(get("v1", "ConfigMap", "settings").error().code, 404);
  ReleaseStorage storage(api_.client());
  auto history = storage.history("default", "rel");
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].info.status, ReleaseStatus::Superseded);
  EXPECT_EQ((*history)[0].info.description, "Install complete");  // superseding keeps it, as in helm history
  EXPECT_EQ((*history)[1].info.status, ReleaseStatus::Deployed);
  EXPECT_EQ((*history)[1].info.description, "Upgrade complete");

  // Rollback to 1: a third revision with revision 1's manifest; the ConfigMap is back.
  RollbackOptions rb;
  rb.name = "rel";
  rb.nameSpace = "default";
  auto rolled = rollback(ctx_, rb);
  ASSERT_TRUE(rolled.ok()) << rolled.error().message;
  EXPECT_EQ(rolled->version, 3);
  EXPECT_EQ(rolled->info.description, "Rollback to 1");
  EXPECT_TRUE(get("v1", "ConfigMap", "settings").ok());
  web = get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web->at("spec").at("template").at("spec").at("containers").at(0).at("image"), "nginx:1");
  history = storage.history("default", "rel");
  EXPECT_EQ((*history)[1].info.status, ReleaseStatus::Superseded);
  EXPECT_EQ((*history)[2].info.status, ReleaseStatus::Deployed);

  // Uninstall: objects and every revision Secret go.
  DeployOptions un;
  un.name = "rel";
  un.nameSpace = "default";
  auto gone = uninstall(ctx_, un, false);
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_EQ(get("apps/v1", "Deployment", "web").error().code, 404);
  EXPECT_EQ(get("v1", "ConfigMap", "settings").error().code, 404);
  EXPECT_TRUE(secretNames().empty());
  auto missing = uninstall(ctx_, un, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "uninstall: Release not loaded: rel: release: not found");
}

TEST_F(HelmActions, RefusesToAdoptAnObjectItDoesNotOwn) {
  ASSERT_TRUE(api_.ready());
  auto created = api_.client().create(*api::findByKind("v1", "ConfigMap"), "default",
                                      json::object{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", json::object{{"name", "settings"}}}});
  ASSERT_TRUE(created.ok());
  Chart c = chart({{"cm.yaml", kConfigMap}});
  auto r = install(ctx_, options(c));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "Unable to continue with install: ConfigMap \"settings\" in namespace \"default\" exists and cannot be imported into the "
            "current release: invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": "
            "must be set to \"Helm\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"rel\"; "
            "annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"default\"");
  EXPECT_TRUE(secretNames().empty());  // nothing recorded, nothing changed
  EXPECT_FALSE(get("v1", "ConfigMap", "settings")->at("metadata").as_object().contains("labels"));
}

TEST_F(HelmActions, KeepPolicyAndHistoryKept) {
  ASSERT_TRUE(api_.ready());
  std::string kept = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keepme\n  annotations:\n    helm.sh/resource-policy: keep\n";
  Chart c = chart({{"cm.yaml", kConfigMap}, {"keep.yaml", kept}});
  ASSERT_TRUE(install(ctx_, options(c)).ok());
  DeployOptions un;
  un.name = "rel";
  un.nameSpace = "default";
  auto gone = uninstall(ctx_, un, true);
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_EQ(gone->kept, std::vector<std::string>{"[ConfigMap] keepme"});
  EXPECT_TRUE(get("v1", "ConfigMap", "keepme").ok());
  EXPECT_EQ(get("v1", "ConfigMap", "settings").error().code, 404);
  ReleaseStorage storage(api_.client());
  auto history = storage.history("default", "rel");
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].info.status, ReleaseStatus::Uninstalled);
  EXPECT_TRUE((*history)[0].info.deleted.has_value());
  auto secret = api_.client().get(*api::findByKind("v1", "Secret"), "default", "sh.helm.release.v1.rel.v1");
  EXPECT_EQ(secret->at("metadata").at("labels").at("status"), "uninstalled");
  EXPECT_TRUE(secret->at("metadata").at("labels").as_object().contains("modifiedAt"));
}

TEST_F(HelmActions, PreInstallHookRunsBeforeTheResourcesAndHistoryMaxPrunes) {
  ASSERT_TRUE(api_.ready());
  // Non-Job hooks are ready once created, so the in-process API (no controllers) can run them.
  std::string hook = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pre\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n";
  Chart c = chart({{"cm.yaml", kConfigMap}, {"hook.yaml", hook}});
  auto r = install(ctx_, options(c));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto pre = get("v1", "ConfigMap", "pre");
  auto settings = get("v1", "ConfigMap", "settings");
  ASSERT_TRUE(pre.ok());
  EXPECT_LT(client::resourceVersionOf(*pre), client::resourceVersionOf(*settings));
  EXPECT_FALSE(pre->at("metadata").as_object().contains("labels"));  // hooks are not release-owned
  EXPECT_EQ(r->hooks[0].lastRun.phase, "Succeeded");
  EXPECT_EQ(r->manifest.find("name: pre"), std::string::npos);  // hooks stay out of the manifest

  UpgradeOptions up;
  static_cast<InstallOptions&>(up) = options(c);
  up.historyMax = 2;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(upgrade(ctx_, up).ok());
  // before-hook-creation: the hook object was replaced on each upgrade (a newer resourceVersion).
  EXPECT_GT(client::resourceVersionOf(*get("v1", "ConfigMap", "pre")), client::resourceVersionOf(*pre));
  EXPECT_EQ(secretNames(), (std::vector<std::string>{"sh.helm.release.v1.rel.v3", "sh.helm.release.v1.rel.v4"}));
}

TEST_F(HelmActions, MissingReleaseAndUpgradeWithoutInstall) {
  ASSERT_TRUE(api_.ready());
  EXPECT_EQ(latest(ctx_, "default", "nope").error().message, "release: not found");
  Chart c = chart({{"cm.yaml", kConfigMap}});
  UpgradeOptions up;
  static_cast<InstallOptions&>(up) = options(c);
  auto r = upgrade(ctx_, up);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "\"rel\" has no deployed releases");
  up.install = true;
  auto installed = upgrade(ctx_, up);
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_TRUE(installed->installed);
  RollbackOptions rb;
  rb.name = "rel";
  rb.nameSpace = "default";
  EXPECT_FALSE(rollback(ctx_, rb).ok());  // revision 1 has nothing before it
}

TEST_F(HelmActions, UpgradeValuesAsHelm3ChoosesThem) {
  ASSERT_TRUE(api_.ready());
  Chart c = chart({{"deploy.yaml", kDeployment}});
  InstallOptions in = options(c);
  in.values = json::object{{"image", "nginx:3"}};
  ASSERT_TRUE(install(ctx_, in).ok());
  auto image = [&] { return get("apps/v1", "Deployment", "web")->at("spec").at("template").at("spec").at("containers").at(0).at("image"); };
  UpgradeOptions up;
  static_cast<InstallOptions&>(up) = options(c);
  auto r = upgrade(ctx_, up);  // no values given: the last release's again
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(image(), "nginx:3");
  EXPECT_EQ(r->release.config, (json::value(json::object{{"image", "nginx:3"}})));
  up.reuseValues = true;
  up.valuesGiven = true;
  up.values = json::object{{"extra", "x"}};
  r = upgrade(ctx_, up);  // merged over the last ones
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->release.config, (json::value(json::object{{"image", "nginx:3"}, {"extra", "x"}})));
  EXPECT_EQ(image(), "nginx:3");
  up.reuseValues = false;
  up.resetValues = true;
  up.values = json::object();
  r = upgrade(ctx_, up);  // back to the chart's defaults
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(image(), "nginx:1");
}

TEST_F(HelmActions, UpgradeKeepsTheAllocatedNodePort) {
  ASSERT_TRUE(api_.ready());
  const char* svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations: {tier: \"{{ .Values.image }}\"}\n"
                    "spec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80}]\n";
  Chart c = chart({{"svc.yaml", svc}});
  ASSERT_TRUE(install(ctx_, options(c)).ok());
  auto nodePort = [&] { return get("v1", "Service", "web")->at("spec").at("ports").at(0).at("nodePort"); };
  json::value before = nodePort();
  ASSERT_TRUE(before.is_number());
  UpgradeOptions up;
  static_cast<InstallOptions&>(up) = options(c);
  up.values = json::object{{"image", "changed"}};
  up.valuesGiven = true;
  ASSERT_TRUE(upgrade(ctx_, up).ok());
  EXPECT_EQ(get("v1", "Service", "web")->at("metadata").at("annotations").at("tier"), "changed");
  EXPECT_EQ(nodePort(), before);
}

TEST_F(HelmActions, LookupReadsTheClusterDuringInstall) {
  ASSERT_TRUE(api_.ready());
  auto created = api_.client().create(*api::findByKind("v1", "ConfigMap"), "default",
                                      json::object{{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                                                   {"metadata", json::object{{"name", "existing"}}}, {"data", json::object{{"a", "from-cluster"}}}});
  ASSERT_TRUE(created.ok());
  std::string tpl = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: copy\ndata:\n"
                    "  a: {{ (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"existing\").data.a | quote }}\n"
                    "  n: {{ len (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"\").items | quote }}\n"
                    "  missing: {{ empty (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"nope\") | quote }}\n";
  Chart c = chart({{"copy.yaml", tpl}});
  auto r = install(ctx_, options(c));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto copy = get("v1", "ConfigMap", "copy");
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->at("data"), (json::value(json::object{{"a", "from-cluster"}, {"n", "1"}, {"missing", "true"}})));
}

TEST_F(HelmActions, WaitUsesHelmsReadyChecks) {
  ASSERT_TRUE(api_.ready());
  Kube kube(api_.client(), builtinKinds());
  std::string job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n"
                    "      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
  auto objs = parseObjects({{"t/templates/d.yaml", kDeployment}, {"t/templates/j.yaml", job}}, "default", builtinKinds());
  ASSERT_TRUE(objs.ok()) << objs.error().message;
  ASSERT_TRUE(kube.create(*objs, "rel", "default").ok());
  // A deadline already passed: one look at each object, no waiting (no controllers run here).
  auto st = kube.waitReady(*objs, Clock::now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "timed out waiting for the condition: Deployment \"web\" in namespace \"default\" is not ready");
  auto setStatus = [&](const char* apiVersion, const char* kind, const char* name, json::value status) {
    auto live = get(apiVersion, kind, name);
    ASSERT_TRUE(live.ok());
    live->as_object()["status"] = std::move(status);
    auto updated = api_.client().update(*api::findByKind(apiVersion, kind), "default", name, *live, "status");
    ASSERT_TRUE(updated.ok()) << updated.error().message;
  };
  setStatus("apps/v1", "Deployment", "web", json::object{{"observedGeneration", 1}, {"replicas", 1}, {"readyReplicas", 1}, {"updatedReplicas", 1}});
  // Ready pods of an older ReplicaSet do not count: Helm looks at the newest revision's.
  auto web = get("apps/v1", "Deployment", "web");
  web->as_object()["metadata"].as_object()["annotations"].as_object()["deployment.kubernetes.io/revision"] = "2";
  ASSERT_TRUE(api_.client().update(*api::findByKind("apps/v1", "Deployment"), "default", "web", *web, "").ok());
  auto replicaSet = [&](const std::string& name, const std::string& revision, int ready) {
    json::value rs = json::object{
        {"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
        {"metadata", json::object{{"name", name}, {"annotations", json::object{{"deployment.kubernetes.io/revision", revision}}},
                                  {"ownerReferences", json::array{json::object{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"},
                                                                               {"uid", web->at("metadata").at("uid")}, {"controller", true}}}}}},
        {"spec", json::object{{"replicas", 1}, {"selector", json::object{{"matchLabels", json::object{{"app", "web"}}}}},
                              {"template", web->at("spec").at("template")}}}};
    ASSERT_TRUE(api_.client().create(*api::findByKind("apps/v1", "ReplicaSet"), "default", rs).ok());
    setStatus("apps/v1", "ReplicaSet", name.c_str(), json::object{{"replicas", 1}, {"readyReplicas", ready}});
  };
  replicaSet("web-old", "1", 1);
  replicaSet("web-new", "2", 0);
  st = kube.waitReady(*objs, Clock::now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "timed out waiting for the condition: Deployment \"web\" in namespace \"default\" is not ready");
  setStatus("apps/v1", "ReplicaSet", "web-new", json::object{{"replicas", 1}, {"readyReplicas", 1}});
  st = kube.waitReady(*objs, Clock::now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "timed out waiting for the condition: Job \"j\" in namespace \"default\" is not ready");
  setStatus("batch/v1", "Job", "j", json::object{{"failed", 1}, {"conditions", json::array{json::object{
                                                    {"type", "Failed"}, {"status", "True"}, {"reason", "BackoffLimitExceeded"}}}}});
  st = kube.waitReady(*objs, Clock::now());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "Job \"j\" in namespace \"default\": job failed: BackoffLimitExceeded");
  setStatus("batch/v1", "Job", "j", json::object{{"succeeded", 1}, {"conditions", json::array{json::object{{"type", "Complete"}, {"status", "True"}}}}});
  EXPECT_TRUE(kube.waitReady(*objs, Clock::now()).ok());
}

}  // namespace
}  // namespace skiff::helm
