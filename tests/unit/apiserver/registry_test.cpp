#include "apiserver/registry.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api/codec.h"
#include "api/object.h"
#include "store/etcd/etcd_store.h"
#include "store/sqlite/sqlite_store.h"
#include "../store/etcd_cluster.h"

namespace skiff::apiserver {
namespace fs = std::filesystem;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("skiff-reg-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto s = store::openSqliteStore({(dir_ / "store.db").string()});
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    registry_ = std::make_unique<Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
  }
  void TearDown() override {
    registry_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  const api::ResourceType& type(const char* apiVersion, const char* kind) { return *api::findByKind(apiVersion, kind); }
  json::value pod(const std::string& name, const std::string& extraSpec = "") {
    return json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                       R"(","labels":{"app":"web"}},"spec":{)" + extraSpec + (extraSpec.empty() ? "" : ",") +
                       R"("containers":[{"name":"c","image":"busybox:1"}]}})");
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, CreateFillsServerFields) {
  auto p = registry_->create(type("v1", "Pod"), "default", pod("p1"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(api::stringAt(*p, "metadata.uid").empty());
  EXPECT_FALSE(api::stringAt(*p, "metadata.creationTimestamp").empty());
  EXPECT_EQ(api::stringAt(*p, "metadata.namespace"), "default");
  EXPECT_EQ(api::stringAt(*p, "metadata.resourceVersion"), std::to_string(store_->revision()));
  EXPECT_EQ(api::stringAt(*p, "spec.restartPolicy"), "Always");
  auto got = registry_->get(type("v1", "Pod"), "default", "p1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *p);
  auto dup = registry_->create(type("v1", "Pod"), "default", pod("p1"));
  EXPECT_EQ(dup.error().code, 409);
  EXPECT_EQ(dup.error().message, "pods \"p1\" already exists");
}

TEST_F(RegistryTest, ANodesPodRangeIsSetOnceThenFixed) {
  const auto& nodeType = type("v1", "Node");
  ASSERT_TRUE(registry_->create(nodeType, "", json::parse(R"({"metadata":{"name":"n1"}})")).ok());
  auto set = registry_->patch(nodeType, "", "n1", PatchType::Merge,
                              json::parse(R"({"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]}})"), "");
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto moved = registry_->patch(nodeType, "", "n1", PatchType::Merge,
                                json::parse(R"({"spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]}})"), "");
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code, 422);
  EXPECT_NE(moved.error().message.find("node updates may not change podCIDR except from \"\" to valid"), std::string::npos)
      << moved.error().message;
  auto dropped = registry_->patch(nodeType, "", "n1", PatchType::Merge, json::parse(R"({"spec":{"podCIDR":null,"podCIDRs":null}})"), "");
  EXPECT_FALSE(dropped.ok());
  auto other = registry_->patch(nodeType, "", "n1", PatchType::Merge, json::parse(R"({"spec":{"unschedulable":true}})"), "");
  EXPECT_TRUE(other.ok()) << "the rest of the spec still changes";
  EXPECT_EQ(api::stringAt(*registry_->get(nodeType, "", "n1"), "spec.podCIDR"), "10.244.1.0/24");
}

TEST_F(RegistryTest, GenerateNameAndNamespaceChecks) {
  json::value obj = pod("");
  api::metadataOf(obj).erase("name");
  api::metadataOf(obj)["generateName"] = "web-";
  auto p = registry_->create(type("v1", "Pod"), "default", obj);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(api::stringAt(*p, "metadata.name").size(), 9u);
  auto missingNs = registry_->create(type("v1", "Pod"), "nope", pod("x"));
  EXPECT_EQ(missingNs.error().code, 404);
  EXPECT_EQ(missingNs.error().message, "namespaces \"nope\" not found");
  json::value wrongNs = pod("y");
  api::metadataOf(wrongNs)["namespace"] = "kube-system";
  EXPECT_EQ(registry_->create(type("v1", "Pod"), "default", wrongNs).error().code, 400);
  json::value noName = pod("");
  api::metadataOf(noName).erase("name");
  EXPECT_EQ(registry_->create(type("v1", "Pod"), "default", noName).error().code, 422);
}

TEST_F(RegistryTest, UpdateConflictsOnStaleResourceVersion) {
  const auto& cm = type("v1", "ConfigMap");
  auto c = registry_->create(cm, "default", json::parse(R"({"metadata":{"name":"c"},"data":{"a":"1"}})"));
  ASSERT_TRUE(c.ok());
  json::value next = *c;
  next.get_object()["data"] = json::object{{"a", "2"}};
  auto u = registry_->update(cm, "default", "c", next, "");
  ASSERT_TRUE(u.ok()) << u.error().message;
  auto stale = registry_->update(cm, "default", "c", next, "");  // still carries the old resourceVersion
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_NE(stale.error().message.find("the object has been modified"), std::string::npos);
}

TEST_F(RegistryTest, NoOpUpdateKeepsResourceVersion) {
  const auto& cm = type("v1", "ConfigMap");
  auto c = registry_->create(cm, "default", json::parse(R"({"metadata":{"name":"c"},"data":{"a":"1"}})"));
  int64_t rev = store_->revision();
  auto u = registry_->patch(cm, "default", "c", PatchType::Merge, json::parse(R"({"data":{"a":"1"}})"), "");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(store_->revision(), rev);
  EXPECT_EQ(api::stringAt(*u, "metadata.resourceVersion"), api::stringAt(*c, "metadata.resourceVersion"));
}

TEST_F(RegistryTest, GenerationCountsSpecChangesOnly) {
  const auto& d = type("apps/v1", "Deployment");
  auto obj = json::parse(R"({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},
      "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x:1"}]}}}})");
  ASSERT_TRUE(registry_->create(d, "default", obj).ok());
  auto labels = registry_->patch(d, "default", "d", PatchType::Merge, json::parse(R"({"metadata":{"labels":{"x":"y"}}})"), "");
  EXPECT_EQ(labels->at_pointer("/metadata/generation"), json::value(1));
  auto scaled = registry_->patch(d, "default", "d", PatchType::Merge, json::parse(R"({"spec":{"replicas":3}})"), "");
  EXPECT_EQ(scaled->at_pointer("/metadata/generation"), json::value(2));
  // Status writes go through /status only, and never bump generation.
  auto st = registry_->patch(d, "default", "d", PatchType::Merge, json::parse(R"({"status":{"replicas":3}})"), "status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->at_pointer("/status/replicas"), json::value(3));
  EXPECT_EQ(st->at_pointer("/metadata/generation"), json::value(2));
  auto ignored = registry_->patch(d, "default", "d", PatchType::Merge, json::parse(R"({"status":{"replicas":9}})"), "");
  EXPECT_EQ(ignored->at_pointer("/status/replicas"), json::value(3));
}

TEST_F(RegistryTest, FinalizersHoldDeletionUntilRemoved) {
  const auto& cm = type("v1", "ConfigMap");
  ASSERT_TRUE(registry_->create(cm, "default", json::parse(R"({"metadata":{"name":"c","finalizers":["x/y"]}})")).ok());
  auto del = registry_->remove(cm, "default", "c");
  ASSERT_TRUE(del.ok());
  EXPECT_FALSE(api::stringAt(*del, "metadata.deletionTimestamp").empty());
  EXPECT_TRUE(registry_->get(cm, "default", "c").ok());
  auto done = registry_->patch(cm, "default", "c", PatchType::Merge, json::parse(R"({"metadata":{"finalizers":null}})"), "");
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(registry_->get(cm, "default", "c").error().code, 404);
}

TEST_F(RegistryTest, BoundPodsDeleteGracefully) {
  const auto& p = type("v1", "Pod");
  ASSERT_TRUE(registry_->create(p, "default", pod("bound", R"("nodeName":"n1")")).ok());
  auto del = registry_->remove(p, "default", "bound");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->at_pointer("/metadata/deletionGracePeriodSeconds"), json::value(30));
  EXPECT_TRUE(registry_->get(p, "default", "bound").ok());
  DeleteOptions now;
  now.gracePeriodSeconds = 0;
  ASSERT_TRUE(registry_->remove(p, "default", "bound", now).ok());
  EXPECT_FALSE(registry_->get(p, "default", "bound").ok());
  ASSERT_TRUE(registry_->create(p, "default", pod("unbound")).ok());
  ASSERT_TRUE(registry_->remove(p, "default", "unbound").ok());
  EXPECT_FALSE(registry_->get(p, "default", "unbound").ok());
}

TEST_F(RegistryTest, ListWithSelectorsAndPagination) {
  const auto& p = type("v1", "Pod");
  for (int i = 0; i < 7; ++i) {
    json::value obj = pod("p" + std::to_string(i));
    if (i % 2) api::metadataOf(obj)["labels"] = json::object{{"app", "db"}};
    ASSERT_TRUE(registry_->create(p, "default", obj).ok());
  }
  ListOptions opts;
  opts.limit = 3;
  std::vector<std::string> names;
  for (int page = 0; page < 5; ++page) {
    auto r = registry_->list(p, "default", opts);
    ASSERT_TRUE(r.ok()) << r.error().message;
    for (auto& i : r->items) names.push_back(api::stringAt(i, "metadata.name"));
    if (r->continueToken.empty()) break;
    opts.continueToken = r->continueToken;
  }
  EXPECT_EQ(names.size(), 7u);
  ListOptions sel;
  sel.labels = *api::LabelSelector::parse("app=db");
  EXPECT_EQ(registry_->list(p, "", sel)->items.size(), 3u);
  ListOptions bad;
  bad.continueToken = "!!!";
  EXPECT_EQ(registry_->list(p, "default", bad).error().code, 400);
}

TEST_F(RegistryTest, WatchTurnsSelectorTransitionsIntoAddedAndDeleted) {
  const auto& cm = type("v1", "ConfigMap");
  std::vector<std::string> seen;
  std::mutex m;
  auto w = registry_->watch(cm, "default", *api::LabelSelector::parse("watch=yes"), {}, store_->revision(),
                            [&](WatchEvent e) {
                              std::lock_guard lock(m);
                              seen.push_back(e.type + ":" + api::stringAt(api::decodeJson(*e.raw).value(), "metadata.name"));
                            });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(registry_->create(cm, "default", json::parse(R"({"metadata":{"name":"a","labels":{"watch":"no"}}})")).ok());
  ASSERT_TRUE(registry_->patch(cm, "default", "a", PatchType::Merge, json::parse(R"({"metadata":{"labels":{"watch":"yes"}}})"), "").ok());
  ASSERT_TRUE(registry_->patch(cm, "default", "a", PatchType::Merge, json::parse(R"({"data":{"k":"v"}})"), "").ok());
  ASSERT_TRUE(registry_->patch(cm, "default", "a", PatchType::Merge, json::parse(R"({"metadata":{"labels":{"watch":"no"}}})"), "").ok());
  std::lock_guard lock(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:a", "MODIFIED:a", "DELETED:a"}));
}

TEST_F(RegistryTest, StrictFieldValidationRejectsUnknownFields) {
  WriteOptions strict;
  strict.fieldValidation = api::FieldValidation::Strict;
  auto r = registry_->create(type("v1", "Pod"), "default", pod("s", R"("bogus":1)"), strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_NE(r.error().message.find("unknown field \"spec.bogus\""), std::string::npos);
  std::vector<std::string> warnings;
  WriteOptions warn;
  warn.warnings = &warnings;
  ASSERT_TRUE(registry_->create(type("v1", "Pod"), "default", pod("w", R"("bogus":1)"), warn).ok());
  EXPECT_EQ(warnings.size(), 1u);
}

TEST_F(RegistryTest, SecretStringDataIsEncoded) {
  auto s = registry_->create(type("v1", "Secret"), "default",
                             json::parse(R"({"metadata":{"name":"s"},"stringData":{"password":"hunter2"}})"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->at_pointer("/data/password"), json::value("aHVudGVyMg=="));
  EXPECT_EQ(s->get_object().count("stringData"), 0u);
  EXPECT_EQ(s->at_pointer("/type"), json::value("Opaque"));
}


// The Registry on the etcd store, with etcd gone: reads and writes fail with 503 and etcd's
// reason, not a false NotFound or an empty list (which an informer would take for "all deleted").
TEST(RegistryOnEtcd, AStoreOutOfReachIsUnavailableNotNotFound) {
  if (!store::testing::EtcdCluster::available()) GTEST_SKIP() << "etcd is not installed";
  store::testing::EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.start());
  store::EtcdOptions options = etcd.options("/skiff");
  options.callTimeout = std::chrono::milliseconds(500);
  auto s = store::openEtcdStore(options);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Registry registry(**s);
  ASSERT_TRUE(registry.bootstrap().ok());
  const api::ResourceType& cm = *api::findByKind("v1", "ConfigMap");
  ASSERT_TRUE(registry.create(cm, "default", json::parse(R"({"metadata":{"name":"a"},"data":{"k":"v"}})")).ok());
  auto listed = registry.list(cm, "default", ListOptions{});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->items.size(), 1u);
  etcd.kill(0);
  auto got = registry.get(cm, "default", "a");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, 503) << got.error().message;
  auto list = registry.list(cm, "default", ListOptions{});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, 503);
  auto update = registry.patch(cm, "default", "a", PatchType::Merge, json::parse(R"({"data":{"k":"w"}})"), "");
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.error().code, 503);
}

}  // namespace skiff::apiserver
