// HTTP/1.1 message heads and body framing for the proxy (RFC 9112), parsed in place: names and
// values are views into the connection's buffer, valid until that buffer changes.
//
// Strict where being lenient lets requests be smuggled past the proxy: bare LF, obsolete line
// folding, spaces before the colon, Content-Length together with Transfer-Encoding, differing
// Content-Lengths and codings other than chunked are errors with the status to answer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::proxy::http1 {

struct Header {
  std::string_view name, value;
};

enum class Framing { kNone, kLength, kChunked, kUntilClose };

struct Head {
  // Requests: method, target; responses: status, reason.
  std::string_view method, target, reason;
  int status = 0;
  int minorVersion = 1;
  std::vector<Header> headers;
  size_t length = 0;  // bytes of the head including the blank line
  Framing framing = Framing::kNone;
  uint64_t contentLength = 0;
  bool keepAlive = true;
  bool upgrade = false;         // Connection: upgrade with an Upgrade header
  bool expectContinue = false;  // requests: Expect: 100-continue
  std::string_view host;        // requests: Host

  std::string_view header(std::string_view lowerName) const;  // first value, or ""
  // True for Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade
  // and any header the Connection header names: they are not forwarded as they are.
  bool isHopByHop(std::string_view name) const;
};

enum class Parse { kComplete, kIncomplete, kError };

struct Error {
  int status = 400;
  std::string reason;
};

// `data` holds the start of a message; kIncomplete until the blank line has arrived.
Parse parseRequest(std::string_view data, size_t maxHeadBytes, Head& out, Error& error);
// `requestMethod` decides whether a body can follow (HEAD and CONNECT responses have none).
Parse parseResponse(std::string_view data, size_t maxHeadBytes, std::string_view requestMethod, Head& out, Error& error);

// Finds where a chunked body ends (the HTTP/1.1 path forwards the bytes as they are).
class ChunkedFramer {
 public:
  // Consumes up to n bytes; returns how many belong to the body (less than n only once done()).
  // Sets failed() on malformed framing. With `payload`, the chunks' data (without the framing)
  // is appended to it: for relaying the body to a protocol with framing of its own (HTTP/2).
  size_t feed(const char* p, size_t n, std::string* payload = nullptr);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }

 private:
  enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart, kTrailer, kTrailerLf, kLastLf, kDone, kFailed };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  int digits_ = 0;
  size_t lineBytes_ = 0;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);
const char* reasonPhrase(int status);

}  // namespace skiff::proxy::http1
