// Endpoints default/kubernetes name the servers whose leases are live: each server adds itself,
// a server that stops cleanly removes itself, one that died drops out after the expiry.
#include "server/apiserver_endpoints.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
#include "apiserver/registry.h"
#include "client/local_client.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::server {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

std::vector<std::string> addresses(client::Client& c) {
  std::vector<std::string> out;
  auto ep = c.get(*api::findByKind("v1", "Endpoints"), "default", "kubernetes");
  if (!ep) return out;
  if (const json::value* subsets = api::valueAt(*ep, "subsets"); subsets && subsets->is_array())
    for (const auto& s : subsets->as_array())
      for (const auto& a : s.at("addresses").as_array()) out.push_back(std::string(a.at("ip").as_string()));
  return out;
}

TEST(ApiServerEndpoints, NameTheLiveServers) {
  fs::path dir = fs::temp_directory_path() / ("skiff-apiep-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto store = std::move(*store::openSqliteStore({(dir / "store.db").string(), 50, 1024}));
    apiserver::Registry registry(*store);
    ASSERT_TRUE(registry.bootstrap().ok());
    client::LocalClient client(registry);
    ApiServerEndpointOptions a{"10.0.0.1", 6443, std::chrono::milliseconds(100), std::chrono::seconds(2)};
    ApiServerEndpointOptions b{"10.0.0.2", 6443, std::chrono::milliseconds(100), std::chrono::seconds(2)};
    ApiServerEndpointOptions c{"10.0.0.3", 6443, std::chrono::milliseconds(100), std::chrono::seconds(2)};
    ApiServerEndpoints first(client, a), second(client, b);
    ASSERT_TRUE(first.start().ok());
    ASSERT_TRUE(second.start().ok());
    ASSERT_TRUE(first.reconcile().ok());
    EXPECT_EQ(addresses(client), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
    second.stop();  // a clean stop withdraws at once
    EXPECT_EQ(addresses(client), (std::vector<std::string>{"10.0.0.1"}));
    {
      // A server that publishes once and then dies (never renews, never withdraws).
      ApiServerEndpoints dying(client, c);
      ASSERT_TRUE(dying.reconcile().ok());
      EXPECT_EQ(addresses(client), (std::vector<std::string>{"10.0.0.1", "10.0.0.3"}));
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (addresses(client).size() != 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(addresses(client), (std::vector<std::string>{"10.0.0.1"}));
    first.stop();
    // The last server leaving keeps its address: there is nothing better to publish.
    EXPECT_EQ(addresses(client), (std::vector<std::string>{"10.0.0.1"}));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace skiff::server
