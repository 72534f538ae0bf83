#include "client/local_client.h"
#include "controller/namespace_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::controller {
namespace fs = std::filesystem;
namespace json = boost::json;

TEST(NamespaceController, DeletesContentThenTheNamespace) {
  fs::path dir = fs::temp_directory_path() / ("skiff-nsc-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto store = std::move(*store::openSqliteStore({(dir / "store.db").string()}));
    apiserver::Registry registry(*store);
    ASSERT_TRUE(registry.bootstrap().ok());
    const auto& nsType = *api::findByKind("v1", "Namespace");
    const auto& cm = *api::findByKind("v1", "ConfigMap");
    ASSERT_TRUE(registry.create(nsType, "", json::parse(R"({"metadata":{"name":"doomed"}})")).ok());
    ASSERT_TRUE(registry.create(cm, "doomed", json::parse(R"({"metadata":{"name":"a"}})")).ok());
    ASSERT_TRUE(registry.create(cm, "default", json::parse(R"({"metadata":{"name":"keep"}})")).ok());
    auto marked = registry.remove(nsType, "", "doomed");
    ASSERT_TRUE(marked.ok());
    EXPECT_EQ(api::stringAt(*marked, "status.phase"), "Terminating");
    // New content is refused while terminating.
    EXPECT_EQ(registry.create(cm, "doomed", json::parse(R"({"metadata":{"name":"b"}})")).error().code, 403);
    client::LocalClient client(registry);
    NamespaceController controller(client);
    ASSERT_TRUE(controller.start().ok());
    for (int i = 0; i < 200 && registry.get(nsType, "", "doomed").ok(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(registry.get(nsType, "", "doomed").error().code, 404);
    EXPECT_EQ(registry.get(cm, "doomed", "a").error().code, 404);
    EXPECT_TRUE(registry.get(cm, "default", "keep").ok());
    controller.stop();
  }
  fs::remove_all(dir);
}

TEST(NamespaceController, SpecFinalizersHoldTheNamespace) {
  fs::path dir = fs::temp_directory_path() / ("skiff-nsc2-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto store = std::move(*store::openSqliteStore({(dir / "store.db").string()}));
    apiserver::Registry registry(*store);
    const auto& nsType = *api::findByKind("v1", "Namespace");
    ASSERT_TRUE(registry.create(nsType, "", json::parse(R"({"metadata":{"name":"held"}})")).ok());
    ASSERT_TRUE(registry.remove(nsType, "", "held").ok());
    // An unrelated update must not complete the deletion while spec.finalizers remain.
    ASSERT_TRUE(registry.patch(nsType, "", "held", apiserver::PatchType::Merge,
                               json::parse(R"({"metadata":{"labels":{"x":"y"}}})"), "").ok());
    EXPECT_TRUE(registry.get(nsType, "", "held").ok());
  }
  fs::remove_all(dir);
}

}  // namespace skiff::controller
