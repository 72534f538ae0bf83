#include "store/open_store.h"

#include "store/etcd/etcd_store.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::store {

Result<OpenedStore> openStore(const std::string& url, const std::string& dataDir) {
  OpenedStore opened;
  if (url.empty()) {
    auto store = openSqliteStore({dataDir + "/store.db"});
    if (!store) return store.error();
    opened.store = std::move(*store);
    opened.description = "sqlite " + dataDir + "/store.db";
    return opened;
  }
  if (!url.starts_with("etcd://"))
    return Error::badRequest("--store takes etcd://HOST:PORT[,HOST:PORT...][/PREFIX], not \"" + url +
                             "\"; without --store the store is SQLite in the data dir");
  auto options = parseEtcdUrl(url);
  if (!options) return options.error();
  auto store = openEtcdStore(*options);
  if (!store) return store.error();
  opened.store = std::move(*store);
  opened.shared = true;
  std::string endpoints;
  for (const auto& e : options->endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;
  opened.description = "etcd " + endpoints + " (keys under " + options->prefix + "/)";
  return opened;
}

}  // namespace skiff::store
