// The cluster's root secrets — the CA (tls/ca.crt, tls/ca.key), the service-account signing key
// (sa.key) and the admin token (token) — made once and shared by every server on one store.
//
// The first server to start with an empty store writes its files under a store key outside the
// API's keyspace (/skiff/cluster-secrets: no API request can read it); every later server (or a
// restarted one whose data dir is new) takes them from there, so certificates, tokens and
// kubeconfigs from any server are good on all of them. Two servers racing on an empty store are
// settled by the store's create: the loser adopts the winner's. Whoever can read the store can
// read these, exactly as with a Kubernetes etcd holding Secrets: protect the store.
#pragma once
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace skiff::server {

inline constexpr const char* kClusterSecretsKey = "/skiff/cluster-secrets";

// Makes DIR's secret files the cluster's (creating them with `create` when the store has none).
// `create` makes any missing local files (CA, sa.key, token) in DIR.
Status shareClusterSecrets(store::Store& store, const std::string& dataDir, const std::function<Status()>& create);

}  // namespace skiff::server
