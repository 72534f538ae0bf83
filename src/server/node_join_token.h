// The server's half of joining nodes: the node join token and the cluster-info ConfigMap.
//
// Every server writes the cluster's node join token to DATA/node-token (0600; kubeadm's form
// "abcdef.0123456789abcdef"). The token lives as a bootstrap token Secret in kube-system, so all
// servers on one store hand out the same one: the first makes it, the others find it. It never
// expires; delete its Secret to revoke it (nodes that joined keep their certificates) and restart
// a server to make a new one.
//
// kube-public/cluster-info holds a kubeconfig with the API address and the cluster CA, readable
// without credentials; the bootstrap signer (controller/bootstrap_signer.h) signs it with every
// signing token, so a node that knows a token can check the CA it is handed.
#pragma once
#include <string>

#include "client/client.h"
#include "common/result.h"

namespace skiff::server {

inline constexpr const char* kNodeTokenDescription = "skiff node join token (skiff agent --token)";

// The cluster's node join token, made on first start; also written to DATA/node-token.
Result<std::string> ensureNodeJoinToken(client::Client& client, const std::string& dataDir);

// Creates or updates kube-public/cluster-info with `serverUrl` and the CA.
Status publishClusterInfo(client::Client& client, const std::string& serverUrl, const std::string& caPem);

}  // namespace skiff::server
