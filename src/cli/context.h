// What every client subcommand shares: the connection from the kubeconfig, resource lookup
// through the server's discovery (so `po`, `pods`, `Pod` and `deployments.apps` all resolve),
// and turning error responses into the server's own message.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "cli/flags.h"
#include "cli/kubeconfig.h"
#include "client/rest_client.h"
#include "common/result.h"
#include "http/http.h"

namespace skiff::cli {

struct Resource {
  std::string group, version, kind, plural, singular;
  bool namespaced = true;
  std::vector<std::string> shortNames;
  std::vector<std::string> categories;  // e.g. "all" (`skiff get all`)
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // e.g. "deployment.apps" or "pod", as kubectl prints object references.
  std::string displayName() const;
  std::string path(const std::string& ns, const std::string& name = "") const;
};

class Context {
 public:
  static Result<std::unique_ptr<Context>> connect(const Flags& flags);

  http::Client& client() { return *client_; }
  const std::string& namespace_() const { return defaultNamespace_; }
  const std::string& server() const { return server_; }
  const std::string& caPem() const { return config_.caPem; }

  Result<Resource> resolve(const std::string& nameOrKind);
  Result<Resource> resolveKind(const std::string& apiVersion, const std::string& kind);
  // The resources in a discovery category ("all"), one version of each; empty when none is.
  std::vector<Resource> category(const std::string& name);

  // The same connection as a client::Client, for code written against the client layer (helm).
  Result<std::unique_ptr<client::RestClient>> restClient() const;
  // Forgets what discovery said (after creating CustomResourceDefinitions).
  void refreshDiscovery() {
    discovered_ = false;
    resources_.clear();
  }
  // The discovered type of apiVersion/kind as the client layer names types.
  Result<api::ResourceType> resourceType(const std::string& apiVersion, const std::string& kind);

  // Sends a request and decodes a JSON answer; a non-2xx answer becomes the server's Status message.
  Result<boost::json::value> call(const std::string& method, const std::string& target, const std::string& body = "",
                                  const std::string& contentType = "application/json", const http::Headers& extra = {});

 private:
  Status loadDiscovery();
  std::unique_ptr<http::Client> client_;
  std::string defaultNamespace_;
  std::string server_;
  Kubeconfig config_;
  std::vector<Resource> resources_;
  bool discovered_ = false;
};

// The message of a Kubernetes Status body, or the raw body.
Error errorFromResponse(const http::ClientResponse& response);

// Flags every client command accepts.
std::vector<FlagSpec> commonFlags();

}  // namespace skiff::cli
