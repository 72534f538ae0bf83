#include "proxy/http1.h"

#include <cstring>

namespace skiff::proxy::http1 {
namespace {

bool isTokenChar(unsigned char c) {
  static const bool* table = [] {
    static bool t[256] = {};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  return table[c];
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each comma-separated element of a header value.
template <class F>
void forEachToken(std::string_view value, F&& f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    f(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  out = v;
  return true;
}

// Finds the end of the head. Returns the head length, 0 if incomplete.
size_t findHeadEnd(std::string_view data) {
  size_t at = data.find("\r\n\r\n");
  return at == std::string_view::npos ? 0 : at + 4;
}

// Parses the header lines in [p, end) (each ending in CRLF, the last blank line excluded).
bool parseHeaderLines(std::string_view lines, Head& out, Error& error) {
  out.headers.clear();
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    if (eol == std::string_view::npos) {
      error = {400, "header line without CRLF"};
      return false;
    }
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      error = {400, "obsolete line folding in headers"};
      return false;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = {400, "malformed header line"};
      return false;
    }
    std::string_view name = line.substr(0, colon);
    for (char c : name)
      if (!isTokenChar(static_cast<unsigned char>(c))) {
        error = {400, "invalid character in header name"};
        return false;
      }
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value)
      if (c == '\0' || c == '\r' || c == '\n') {
        error = {400, "invalid character in header value"};
        return false;
      }
    if (out.headers.size() >= 128) {
      error = {431, "more than 128 header fields"};
      return false;
    }
    out.headers.push_back({name, value});
  }
  return true;
}

// Connection tokens, Content-Length and Transfer-Encoding: what both directions share.
bool readFramingHeaders(Head& out, bool& hasLength, bool& chunked, bool& otherCoding, Error& error) {
  bool close = false, keepAliveToken = false, upgradeToken = false, hasUpgrade = false;
  hasLength = chunked = otherCoding = false;
  for (const auto& h : out.headers) {
    if (equalsIgnoreCase(h.name, "connection")) {
      forEachToken(h.value, [&](std::string_view t) {
        if (equalsIgnoreCase(t, "close")) close = true;
        else if (equalsIgnoreCase(t, "keep-alive")) keepAliveToken = true;
        else if (equalsIgnoreCase(t, "upgrade")) upgradeToken = true;
      });
    } else if (equalsIgnoreCase(h.name, "content-length")) {
      uint64_t v;
      if (!parseDecimal(h.value, v)) {
        error = {400, "invalid Content-Length"};
        return false;
      }
      if (hasLength && v != out.contentLength) {
        error = {400, "conflicting Content-Length headers"};
        return false;
      }
      hasLength = true;
      out.contentLength = v;
    } else if (equalsIgnoreCase(h.name, "transfer-encoding")) {
      forEachToken(h.value, [&](std::string_view t) {
        if (t.empty()) return;
        if (equalsIgnoreCase(t, "chunked")) {
          if (chunked) otherCoding = true;  // chunked twice
          chunked = true;
        } else {
          otherCoding = true;
        }
      });
    } else if (equalsIgnoreCase(h.name, "upgrade")) {
      hasUpgrade = true;
    } else if (equalsIgnoreCase(h.name, "host")) {
      out.host = h.value;
    } else if (equalsIgnoreCase(h.name, "expect")) {
      out.expectContinue = equalsIgnoreCase(h.value, "100-continue");
    }
  }
  out.keepAlive = out.minorVersion >= 1 ? !close : (keepAliveToken && !close);
  out.upgrade = upgradeToken && hasUpgrade;
  return true;
}

bool parseVersion(std::string_view v, int& minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1." || (v[7] != '0' && v[7] != '1')) return false;
  minor = v[7] - '0';
  return true;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    // ASCII letters differ from their other case only in bit 0x20; compare with it set, and
    // make sure that is only done to letters.
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}

std::string_view Head::header(std::string_view lowerName) const {
  for (const auto& h : headers)
    if (equalsIgnoreCase(h.name, lowerName)) return h.value;
  return {};
}

bool Head::isHopByHop(std::string_view name) const {
  static constexpr std::string_view kFixed[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"};
  for (auto f : kFixed)
    if (equalsIgnoreCase(name, f)) return true;
  bool named = false;
  for (const auto& h : headers)
    if (equalsIgnoreCase(h.name, "connection"))
      forEachToken(h.value, [&](std::string_view t) { named = named || equalsIgnoreCase(t, name); });
  return named;
}

Parse parseRequest(std::string_view data, size_t maxHeadBytes, Head& out, Error& error) {
  size_t skipped = 0;  // empty lines before the request line are ignored (RFC 9112 2.2)
  while (data.size() >= skipped + 2 && data[skipped] == '\r' && data[skipped + 1] == '\n') skipped += 2;
  std::string_view rest = data.substr(skipped);
  size_t headEnd = findHeadEnd(rest.substr(0, std::min(rest.size(), maxHeadBytes + 4)));
  if (headEnd == 0) {
    if (rest.size() > maxHeadBytes) {
      error = {431, "request head larger than " + std::to_string(maxHeadBytes / 1024) + " KiB"};
      return Parse::kError;
    }
    // A bare LF line end would never complete: refuse it as soon as it shows.
    for (size_t i = 0; i < rest.size(); ++i)
      if (rest[i] == '\n' && (i == 0 || rest[i - 1] != '\r')) {
        error = {400, "bare LF in request head"};
        return Parse::kError;
      }
    return Parse::kIncomplete;
  }
  out = Head{};
  out.length = skipped + headEnd;
  std::string_view head = rest.substr(0, headEnd);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    error = {400, "malformed request line"};
    return Parse::kError;
  }
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (out.method.empty() || out.target.empty()) {
    error = {400, "malformed request line"};
    return Parse::kError;
  }
  for (char c : out.method)
    if (!isTokenChar(static_cast<unsigned char>(c))) {
      error = {400, "invalid method"};
      return Parse::kError;
    }
  for (char c : out.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = {400, "invalid character in request target"};
      return Parse::kError;
    }
  if (!parseVersion(line.substr(sp2 + 1), out.minorVersion)) {
    error = {505, "only HTTP/1.0 and HTTP/1.1 are served here"};
    return Parse::kError;
  }
  if (!parseHeaderLines(head.substr(eol + 2), out, error)) return Parse::kError;
  bool hasLength, chunked, otherCoding;
  if (!readFramingHeaders(out, hasLength, chunked, otherCoding, error)) return Parse::kError;
  if (chunked || otherCoding) {
    if (hasLength) {
      error = {400, "both Content-Length and Transfer-Encoding"};
      return Parse::kError;
    }
    if (otherCoding || out.minorVersion == 0) {
      error = {out.minorVersion == 0 ? 400 : 501, "unsupported Transfer-Encoding (only chunked)"};
      return Parse::kError;
    }
    out.framing = Framing::kChunked;
  } else if (hasLength && out.contentLength > 0) {
    out.framing = Framing::kLength;
  }
  if (out.minorVersion == 1 && out.host.empty()) {
    bool present = false;
    for (const auto& h : out.headers) present = present || equalsIgnoreCase(h.name, "host");
    if (!present) {
      error = {400, "HTTP/1.1 request without Host header"};
      return Parse::kError;
    }
  }
  return Parse::kComplete;
}

Parse parseResponse(std::string_view data, size_t maxHeadBytes, std::string_view requestMethod, Head& out, Error& error) {
  size_t headEnd = findHeadEnd(data.substr(0, std::min(data.size(), maxHeadBytes + 4)));
  if (headEnd == 0) {
    if (data.size() > maxHeadBytes) {
      error = {502, "upstream response head larger than " + std::to_string(maxHeadBytes / 1024) + " KiB"};
      return Parse::kError;
    }
    return Parse::kIncomplete;
  }
  out = Head{};
  out.length = headEnd;
  std::string_view head = data.substr(0, headEnd);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  // HTTP/1.x SP 3DIGIT SP reason
  if (line.size() < 12 || !parseVersion(line.substr(0, 8), out.minorVersion) || line[8] != ' ' || line[9] < '1' || line[9] > '5' ||
      line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' || (line.size() > 12 && line[12] != ' ')) {
    error = {502, "malformed status line from upstream"};
    return Parse::kError;
  }
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  if (!parseHeaderLines(head.substr(eol + 2), out, error)) {
    error.status = 502;
    error.reason = "upstream response: " + error.reason;
    return Parse::kError;
  }
  bool hasLength, chunked, otherCoding;
  if (!readFramingHeaders(out, hasLength, chunked, otherCoding, error)) {
    error.status = 502;
    error.reason = "upstream response: " + error.reason;
    return Parse::kError;
  }
  if (equalsIgnoreCase(requestMethod, "HEAD") || out.status < 200 || out.status == 204 || out.status == 304) {
    out.framing = Framing::kNone;
  } else if (chunked && !otherCoding) {
    out.framing = Framing::kChunked;
    if (hasLength) out.keepAlive = false;  // RFC 9112 6.3: Transfer-Encoding wins, then close
  } else if (chunked || otherCoding) {
    out.framing = Framing::kUntilClose;
    out.keepAlive = false;
  } else if (hasLength) {
    out.framing = out.contentLength ? Framing::kLength : Framing::kNone;
  } else {
    out.framing = Framing::kUntilClose;
    out.keepAlive = false;
  }
  return Parse::kComplete;
}

size_t ChunkedFramer::feed(const char* p, size_t n, std::string* payload) {
  size_t i = 0;
  while (i < n && state_ != State::kDone && state_ != State::kFailed) {
    char c = p[i];
    switch (state_) {
      case State::kSize: {
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d >= 0) {
          if (++digits_ > 15) {
            state_ = State::kFailed;
            break;
          }
          remaining_ = remaining_ * 16 + uint64_t(d);
        } else if (digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::kExtension;
          lineBytes_ = 0;
        } else if (digits_ > 0 && c == '\r') {
          state_ = State::kSizeLf;
        } else {
          state_ = State::kFailed;
          break;
        }
        ++i;
        break;
      }
      case State::kExtension:
        if (c == '\r') state_ = State::kSizeLf;
        else if (c == '\n' || ++lineBytes_ > 4096) state_ = State::kFailed;
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        ++i;
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kData: {
        size_t take = size_t(std::min<uint64_t>(remaining_, n - i));
        if (payload) payload->append(p + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') {
          state_ = State::kFailed;
          break;
        }
        ++i;
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        ++i;
        state_ = State::kSize;
        digits_ = 0;
        break;
      case State::kTrailerStart:
        ++i;
        if (c == '\r') {
          state_ = State::kLastLf;
        } else {
          state_ = State::kTrailer;
          lineBytes_ = 1;
        }
        break;
      case State::kTrailer:
        if (c == '\r') state_ = State::kTrailerLf;
        else if (c == '\n' || ++lineBytes_ > 8192) state_ = State::kFailed;
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        ++i;
        state_ = State::kTrailerStart;
        break;
      case State::kLastLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        ++i;
        state_ = State::kDone;
        break;
      default:
        break;
    }
  }
  return i;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace skiff::proxy::http1
