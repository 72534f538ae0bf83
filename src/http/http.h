// A small HTTP/1.1 server and client on Boost.Beast, kept behind this header so only two
// translation units pay for Beast's compile time.
//
// Server threading: one thread accepts; each connection gets a thread that reads requests in a
// keep-alive loop and calls the handler synchronously. A handler may answer once (respond) or
// stream a chunked body (startStream) until the client goes away, which is how watches work.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace skiff::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string target;  // raw request target
  std::string path;    // percent-decoded path
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string remoteAddress;

  std::string header(const std::string& lowerName) const;
  std::string queryValue(const std::string& name) const;  // "" if absent
  bool hasQuery(const std::string& name) const { return query.count(name) > 0; }
};

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  Headers headers;
  std::string body;
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Sends one chunk; false once the client is gone.
  virtual bool write(std::string_view chunk) = 0;
  // True when the client closed its side (checked without blocking).
  virtual bool clientGone() = 0;
};

class WebSocket;

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual void respond(Response response) = 0;
  virtual Stream& startStream(int status, std::string contentType, Headers headers = {}) = 0;
  // Answers a WebSocket upgrade, agreeing on the first of the client's Sec-WebSocket-Protocol
  // offers that `protocols` has; an error (nothing sent) when it is no WebSocket request or no
  // protocol matches. The connection ends with the exchange.
  virtual Result<WebSocket*> upgradeToWebSocket(const std::vector<std::string>& protocols) = 0;
};

using Handler = std::function<void(Exchange&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port
  size_t maxBodyBytes = 3 * 1024 * 1024;  // Kubernetes' own request limit
  size_t maxHeaderBytes = 64 * 1024;
  // PEM certificate chain and key; both empty serves plain HTTP.
  std::string tlsCertPem;
  std::string tlsKeyPem;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, closes every connection and waits for their threads.
  virtual void stop() = 0;
};

Result<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler handler);

// ---- client ----

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// One keep-alive connection to host:port; reconnects when the server closed it.
class Client {
 public:
  // caPem non-empty: HTTPS, verifying the server against that CA (or the system's roots when it
  // is kSystemRoots) and the host name. `peer` names the server in messages ("" = the skiff API).
  static constexpr const char* kSystemRoots = "system";
  Client(std::string host, uint16_t port, std::string bearerToken, std::string caPem = "", std::string peer = "");
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<ClientResponse> request(const std::string& method, const std::string& target, const std::string& body = "",
                                 const std::string& contentType = "application/json", const Headers& extra = {});
  // Opens a WebSocket on a new connection, offering `protocols`.
  Result<std::unique_ptr<WebSocket>> openWebSocket(const std::string& target, const std::vector<std::string>& protocols);
  // Streams a response body to `onData` as it arrives, until the server ends it or onData
  // returns false. Returns the status code (and the response headers, when asked: filled before
  // the first onData call, with the status under ":status").
  Result<int> stream(const std::string& target, const Headers& extra,
                     const std::function<bool(std::string_view)>& onData,
                     std::map<std::string, std::string>* headersOut = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "https://host:port" or "host:port" into host and port.
Result<std::pair<std::string, uint16_t>> parseHostPort(std::string_view address, uint16_t defaultPort);
std::string percentDecode(std::string_view s);
std::string percentEncode(std::string_view s);

}  // namespace skiff::http
