// etcd backend for Store: `skiff server --store etcd://HOST:PORT,...` — several servers on one
// etcd cluster, over etcd's v3 gRPC API (the API every production etcd client uses).
//
// Revisions are etcd's own. A write's value is built before it is sent, with the revision it will
// get; that revision is knowable because every skiff transaction also puts one sentinel key
// (PREFIX/meta/revision) and is conditional on the sentinel's mod_revision being the store's
// last revision S, so the write lands at exactly S+1. Writes of this process go one at a time
// (several would only race for S); servers on one etcd retry when another moved S. So skiff needs
// its etcd to itself, as kube-apiserver recommends: anything else writing to that etcd moves the
// revision behind skiff's back. skiff notices it (the write landed past S+1), logs an error
// naming it, and writes the value again with the right revision.
//
// Reads go to etcd (linearizable), so every server reads every server's writes. One etcd watch
// stream over PREFIX/ feeds a bounded in-memory history that local watches replay from and
// follow (410 Gone past it, as with SQLite); a broken stream resumes from the next revision on
// another member. A write returns once its event reached the local watches. Every 5 minutes one
// server compacts etcd to the revision seen 5 minutes earlier, as kube-apiserver does.
//
// Threading: every method is safe from any thread; watch callbacks run on the stream's thread.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace skiff::store {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // HOST:PORT of the members' client URLs (http)
  // Every key skiff writes lives under it: objects under PREFIX/data, skiff's own under PREFIX/meta.
  std::string prefix = "/skiff";
  // Watch events retained in memory (see SqliteOptions::historyLimit).
  size_t historyLimit = 10000;
  std::chrono::milliseconds callTimeout{5000};  // one etcd call; writes try for up to 3 of these
  std::chrono::milliseconds compactInterval{5 * 60 * 1000};  // 0: never compact on its own
};

// Parses etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX] (PORT defaults to 2379).
Result<EtcdOptions> parseEtcdUrl(std::string_view url);

// Connects, checks that etcd answers, and starts following it. Errors say which endpoints and why.
Result<std::unique_ptr<Store>> openEtcdStore(const EtcdOptions& options);

}  // namespace skiff::store
