// An API to test controllers against without a server: a SQLite store in a temp directory, the
// Registry on it (bootstrapped) and a LocalClient — what `skiff up` runs in-process. The
// directory goes with the object.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "apiserver/registry.h"
#include "client/local_client.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::test_support {

class LocalApi {
 public:
  explicit LocalApi(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / ("skiff-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    bootstrapped_ = registry_->bootstrap().ok();
    client_ = std::make_unique<client::LocalClient>(*registry_);
  }
  ~LocalApi() {
    client_.reset();
    registry_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  bool ready() const { return bootstrapped_; }
  client::LocalClient& client() { return *client_; }
  apiserver::Registry& registry() { return *registry_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<client::LocalClient> client_;
  bool bootstrapped_ = false;
};

}  // namespace skiff::test_support
