// RestClient: the Client verbs over HTTPS to one or more API servers, as client-go speaks them.
//
// Requests go to the server that answered last; a transport failure (refused, unreachable,
// timed out) moves to the next listed server and retries there once per server, so a node keeps
// working while one control-plane machine is down. Answers that are errors come back as the
// server's Status (code, reason, message, causes), so callers branch on code/reason exactly as
// in-process. A body that is not a Status (the address is not an API server) gets a message
// naming the address.
//
// Watches run on a thread each: a dropped connection resumes from the last revision seen
// (bookmarks keep it fresh, a stalled connection is dropped after `watchIdleTimeout`); when the
// server says that revision is gone (410) the watch delivers one ERROR event and ends, so the
// informer relists. Destroying the watch cancels its connection and joins the thread.
//
// Threading: safe from any thread; each request borrows a keep-alive connection from a pool.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/client.h"
#include "http/http.h"

namespace skiff::client {

struct RestConfig {
  std::vector<std::string> servers;  // "https://host:port", tried in order
  std::string caPem;                 // the cluster CA the servers' certificates must chain to
  std::string token;                 // bearer token, or
  std::string certPem, keyPem;       // a client certificate (mutual TLS)
  std::chrono::milliseconds timeout{30000};           // each request, connect to last byte
  std::chrono::milliseconds watchIdleTimeout{75000};  // servers send a bookmark every 10 s
  std::string userAgent = "skiff";
};

class RestClient final : public Client {
 public:
  static Result<std::unique_ptr<RestClient>> create(RestConfig config);
  ~RestClient() override;

  Result<json::value> create(const api::ResourceType& type, const std::string& ns, json::value object,
                             const WriteOptions& options = {}) override;
  Result<json::value> get(const api::ResourceType& type, const std::string& ns, const std::string& name) override;
  Result<ListResult> list(const api::ResourceType& type, const std::string& ns, const ListOptions& options,
                          bool parse = true) override;
  Result<json::value> update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             json::value object, const std::string& subresource, const WriteOptions& options = {}) override;
  Result<json::value> patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                            PatchType patchType, const json::value& patch, const std::string& subresource,
                            const WriteOptions& options = {}) override;
  Result<json::value> bind(const std::string& ns, const std::string& name, const std::string& node) override;
  Result<json::value> remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             const DeleteOptions& options = {}) override;
  Result<std::unique_ptr<Watch>> watch(const api::ResourceType& type, const std::string& ns, const api::LabelSelector& labels,
                                       const api::FieldSelector& fields, int64_t afterRevision, WatchSink sink) override;

  // Any other request (paths outside the resource verbs: /version, TokenRequest...). `path`
  // includes the query. Error when no server answered; HTTP errors are in the response.
  Result<http::ClientResponse> request(const std::string& method, const std::string& path, const std::string& body = "",
                                       const std::string& contentType = "application/json");
  // The server that answered last ("https://host:port").
  std::string currentServer() const;
  // A renewed client certificate: new connections (and watches as they reconnect) present it;
  // idle connections made with the old one are dropped so the servers see the new identity.
  void setClientCertificate(std::string certPem, std::string keyPem);

 private:
  struct Server {
    std::string url, host;
    uint16_t port = 0;
    std::mutex mutex;
    std::vector<std::unique_ptr<http::Client>> idle;  // keep-alive connections not in use
  };
  class RemoteWatch;
  explicit RestClient(RestConfig config) : config_(std::move(config)) {}
  std::unique_ptr<http::Client> connection(Server& server);
  std::unique_ptr<http::Client> newConnection(const Server& server);  // with the current credentials
  void giveBack(Server& server, std::unique_ptr<http::Client> c);
  // The request on the current server, then on each other one while the transport fails.
  Result<http::ClientResponse> send(const std::string& method, const std::string& target, const std::string& body,
                                    const std::string& contentType);
  // A successful answer's object, or the server's Status as an Error.
  Result<json::value> object(Result<http::ClientResponse> response, std::vector<std::string>* warnings = nullptr);

  RestConfig config_;
  mutable std::mutex credentialsMutex_;  // config_.certPem and keyPem change on renewal
  std::atomic<uint64_t> credentialsGeneration_{0};  // watches reconnect with new credentials when it moves
  std::vector<std::unique_ptr<Server>> servers_;
  std::atomic<size_t> current_{0};
};

// The API path of a resource collection ("/api/v1/namespaces/ns/pods"), or of one object and
// subresource when `name` is given.
std::string resourcePath(const api::ResourceType& type, const std::string& ns, const std::string& name = "",
                         const std::string& subresource = "");
// An Error from a non-2xx answer: the server's Status, or a message naming a server that is not
// an API server.
Error errorFromResponse(const http::ClientResponse& response, const std::string& server);

}  // namespace skiff::client
