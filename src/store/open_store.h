// Which store a server runs on, from `--store`: SQLite in the data dir (the default, `skiff up`'s
// one machine) or an etcd cluster that several servers share.
#pragma once
#include <memory>
#include <string>

#include "store/store.h"

namespace skiff::store {

struct OpenedStore {
  std::unique_ptr<Store> store;
  // Other servers may use the same store (etcd): they must share the cluster's secrets.
  bool shared = false;
  std::string description;  // "sqlite DIR/store.db", "etcd 10.0.0.1:2379,..."
};

// `url` empty: SQLite at DATA_DIR/store.db. etcd://HOST:PORT[,HOST:PORT...][/PREFIX]: etcd.
Result<OpenedStore> openStore(const std::string& url, const std::string& dataDir);

}  // namespace skiff::store
