// A small HTTP/1.1 server and client on Boost.Beast, kept behind this header so only two
// translation units pay for Beast's compile time.
//
// Server threading: one event-loop thread owns every connection while it is idle, shaking hands
// or sending a request: TLS handshakes, request heads and bodies are read there without blocking,
// each under a deadline, and a request is admitted (authenticated) from its head alone before any
// body byte is read. A whole request then runs its handler on one of a fixed pool of worker
// threads (or, for long-running requests such as exec and log follows, on a thread of its own,
// capped in number), which answers with blocking writes and hands a keep-alive connection back to
// the loop. Event streams (watches) are written by the loop from shared chunks, so a watcher
// costs a queue, not a thread. Connections are capped; at the cap the oldest one that has not
// yet sent a request is closed to make room.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
  // Who the server's admission check found (ServerOptions::admit) and their groups; empty when none ran.
  std::string user;
  std::vector<std::string> groups;
  // The client certificate (ServerOptions::clientCaPem): its subject's CN and O once it
  // verified against that CA; otherwise why it did not ("" when none was presented).
  std::string clientCommonName, clientCertificateProblem;
  std::vector<std::string> clientOrganizations;

  std::string header(const std::string& lowerName) const;
  std::string queryValue(const std::string& name) const;  // "" if absent
  bool hasQuery(const std::string& name) const { return query.count(name) > 0; }
  // A boolean parameter as Kubernetes reads it (parseBool); false when absent or not a boolean.
  bool queryFlag(const std::string& name) const;
};

// A boolean as Go's strconv.ParseBool reads it — what Kubernetes clients send (the Python client
// sends `watch=True`): 1 t T TRUE true True, 0 f F FALSE false False; nullopt for anything else.
std::optional<bool> parseBool(std::string_view v);

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
  // True when the client closed its side (checked without blocking; safe beside write() on another thread).
  virtual bool clientGone() = 0;
};

class WebSocket;

// One chunk of an event stream; shared, so an event serialised once can go to every watcher.
using Chunk = std::shared_ptr<const std::string>;

// A chunked response fed from any thread and written by the server's event loop.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues a chunk without blocking. False once the stream has ended, or when the chunk would
  // take the queue past its byte budget: the stream then ends with the overflow chunk.
  virtual bool push(Chunk chunk) = 0;
  // Ends the stream once what is queued has been written.
  virtual void end() = 0;
  virtual bool ended() const = 0;
};

struct EventStreamOptions {
  size_t maxQueuedBytes = 8 * 1024 * 1024;
  // The last chunk a stream gets when it is cut off for falling behind (null: none).
  std::function<Chunk()> overflowChunk;
  // Runs on the event loop about every tickInterval while the stream lives; must not block.
  std::chrono::milliseconds tickInterval{1000};
  std::function<void(EventStream&)> onTick;
  // Runs once, on a worker thread, after the stream ended for any reason (client gone included).
  std::function<void()> onEnd;
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual void respond(Response response) = 0;
  // A chunked body written by the handler's own thread (log follows): for long-running requests.
  virtual Stream& startStream(int status, std::string contentType, Headers headers = {}) = 0;
  // A chunked body the event loop writes after the handler returns (watches). Chunks pushed
  // with `direct` before the handler returns are written at once from the handler's thread
  // (blocking, without the budget): the initial state of a watch.
  virtual std::shared_ptr<EventStream> startEventStream(int status, std::string contentType, EventStreamOptions options) = 0;
  virtual bool writeDirect(std::string_view chunk) = 0;
  // Answers a WebSocket upgrade, agreeing on the first of the client's Sec-WebSocket-Protocol
  // offers that `protocols` has; an error (nothing sent) when it is no WebSocket request or no
  // protocol matches. The connection ends with the exchange.
  virtual Result<WebSocket*> upgradeToWebSocket(const std::vector<std::string>& protocols) = 0;
};

using Handler = std::function<void(Exchange&)>;

// Decides from a request's head alone (no body byte read yet) whether it may go on.
struct Admission {
  std::optional<Response> refusal;  // sent at once; the connection is then closed
  std::string user;                 // who sent it (Request::user), for per-client limits
  std::vector<std::string> groups;  // their groups (Request::groups)
  bool longRunning = false;         // exec, attach, log follows: a thread of its own
};
using Admit = std::function<Admission(const Request& head)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port
  size_t maxBodyBytes = 3 * 1024 * 1024;  // Kubernetes' own request limit
  size_t maxHeaderBytes = 64 * 1024;
  Admit admit;  // null admits everything
  size_t maxConnections = 20000;
  size_t workers = 16;              // threads for ordinary requests
  size_t maxQueued = 1024;          // admitted requests waiting for a worker; past it, 429
  size_t maxQueuedPerUser = 256;    // so one client cannot fill the queue for the rest
  size_t maxLongRunning = 512;      // threads for long-running requests; past it, 429
  std::chrono::milliseconds handshakeTimeout{10000};
  std::chrono::milliseconds headerTimeout{10000};  // from a request's first byte to its blank line
  std::chrono::milliseconds bodyTimeout{60000};
  std::chrono::milliseconds idleTimeout{90000};    // keep-alive wait for the next request
  std::chrono::milliseconds writeTimeout{60000};   // a blocked answer or a stream's last words
  // PEM certificate chain and key; both empty serves plain HTTP.
  std::string tlsCertPem;
  std::string tlsKeyPem;
  // Asks TLS clients for a certificate and checks it against this CA (PEM). A missing or
  // unverifiable one does not fail the handshake: the admission check sees the outcome in the
  // Request and answers 401 with a message, which a TLS alert could not carry.
  std::string clientCaPem;
};

struct ServerStats {
  size_t connections = 0, streams = 0, queued = 0, longRunning = 0;
  uint64_t refused = 0, evicted = 0, timedOut = 0, overflowed = 0;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual ServerStats stats() const = 0;
  // Stops accepting, closes every connection and waits for their threads.
  virtual void stop() = 0;
  // A renewed serving certificate: new connections get it, open ones keep theirs.
  virtual Status replaceCertificate(const std::string& certPem, const std::string& keyPem) = 0;
};

Result<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler handler);

// ---- client ----

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// Lets another thread abort a blocking client call: the call's socket is shut down, so the call
// returns an error at once (as does any later call handed the same Cancellation).
class Cancellation {
 public:
  void cancel();
  bool cancelled() const;
  // Used by the client: binds the call's socket (false when already cancelled) and unbinds it.
  bool attach(int fd);
  void detach();

 private:
  mutable std::mutex mutex_;
  int fd_ = -1;
  bool cancelled_ = false;
};

// One keep-alive connection to host:port; reconnects when the server closed it.
class Client {
 public:
  // caPem non-empty: HTTPS, verifying the server against that CA (or the system's roots when it
  // is kSystemRoots) and the host name. `peer` names the server in messages ("" = the skiff API).
  static constexpr const char* kSystemRoots = "system";
  // HTTPS that checks nothing about the server: only for answers verified otherwise (a joining
  // node's discovery, whose cluster-info is checked against its token's signature).
  static constexpr const char* kUnverified = "unverified";
  Client(std::string host, uint16_t port, std::string bearerToken, std::string caPem = "", std::string peer = "");
  // Presents this certificate (PEM chain and key) in TLS handshakes from now on (mTLS).
  void setClientCertificate(std::string certPem, std::string keyPem);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Bounds each request from connect to the last response byte (zero: unbounded). Streams are
  // bounded by `idleTimeout` between chunks instead.
  void setTimeout(std::chrono::milliseconds timeout);

  Result<ClientResponse> request(const std::string& method, const std::string& target, const std::string& body = "",
                                 const std::string& contentType = "application/json", const Headers& extra = {});
  // Opens a WebSocket on a new connection, offering `protocols`.
  Result<std::unique_ptr<WebSocket>> openWebSocket(const std::string& target, const std::vector<std::string>& protocols);
  // Streams a response body to `onData` as it arrives, until the server ends it or onData
  // returns false. Returns the status code (and the response headers, when asked: filled before
  // the first onData call, with the status under ":status").
  // `hooks` (for relays and watches): onHeaders runs once the head is in, before any body byte;
  // while the body is awaited, stillWanted is asked every 200 ms and false ends the stream (a
  // client that left must not pin a quiet upstream); `cancel` lets another thread end it at once;
  // `idleTimeout` (non-zero) ends it when the server sends nothing for that long (a peer that
  // vanished without closing the connection).
  struct StreamHooks {
    std::function<void(int status, const std::map<std::string, std::string>& headers)> onHeaders;
    std::function<bool()> stillWanted;
    Cancellation* cancel = nullptr;
    std::chrono::milliseconds idleTimeout{};
  };
  Result<int> stream(const std::string& target, const Headers& extra,
                     const std::function<bool(std::string_view)>& onData,
                     std::map<std::string, std::string>* headersOut = nullptr, const StreamHooks* hooks = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "https://host:port" or "host:port" into host and port.
Result<std::pair<std::string, uint16_t>> parseHostPort(std::string_view address, uint16_t defaultPort);
std::string percentDecode(std::string_view s);
std::string percentEncode(std::string_view s);

}  // namespace skiff::http
