// Agent: the process of `skiff agent` — this machine as a node of a cluster whose control plane
// runs elsewhere. The node wiring (server/node.h) on an HTTPS client to the servers, started once
// the informer of this node's pods has synced (so the agent never mistakes "not listed yet" for
// "deleted" and stops pods that should run). Cut off from the servers later, the node keeps its
// pods running; the informers catch up when a server answers again.
#pragma once
#include <memory>

#include "client/rest_client.h"
#include "server/node.h"

namespace skiff::server {

struct AgentProcessOptions {
  NodeOptions node;
  // The servers and, unless a join token is given, the credentials (a kubeconfig's).
  client::RestConfig api;
  // Join with the server's node token (server/node_join.h): the agent gets its own identity.
  std::string joinToken;
};

class Agent {
 public:
  // Blocks until a server answered and the node's pods are listed (or `stopRequested` turns
  // true: an error is returned then). Fails at once when a server refuses the credentials or
  // is not an API server.
  static Result<std::unique_ptr<Agent>> start(const AgentProcessOptions& options, const std::function<bool()>& stopRequested);
  virtual ~Agent() = default;
  virtual void stop() = 0;
  virtual const std::string& nodeName() const = 0;
};

}  // namespace skiff::server
