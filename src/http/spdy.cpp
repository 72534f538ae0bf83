#include "http/spdy.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace skiff::http::spdy {

namespace {

uint32_t be32(std::string_view s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 | uint32_t(uint8_t(s[at + 3]));
}

void put32(std::string& out, uint32_t v) {
  out += char(v >> 24);
  out += char(v >> 16);
  out += char(v >> 8);
  out += char(v);
}

// A control frame's 8-byte head: version 3, type, flags, 24-bit length.
std::string controlHead(FrameType type, uint8_t flags, size_t length) {
  std::string out;
  out += char(0x80);
  out += char(3);
  out += char(uint16_t(type) >> 8);
  out += char(uint16_t(type) & 0xff);
  out += char(flags);
  out += char(length >> 16);
  out += char(length >> 8);
  out += char(length);
  return out;
}

}  // namespace

const std::string& Codec::dictionary() {
  // Length-prefixed header names and values, then a run of common value text.
  static const std::string dict = [] {
    std::string d;
    for (const char* word :
         {"options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
          "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
          "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date", "etag",
          "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
          "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
          "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
          "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive",
          "origin"}) {
      put32(d, uint32_t(std::char_traits<char>::length(word)));
      d += word;
    }
    d += "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
  }();
  return dict;
}

struct Codec::Zlib {
  z_stream in{}, out{};
  bool inReady = false, outReady = false;
  ~Zlib() {
    if (inReady) inflateEnd(&in);
    if (outReady) deflateEnd(&out);
  }
};

Codec::Codec() : z_(std::make_unique<Zlib>()) {
  z_->inReady = inflateInit(&z_->in) == Z_OK;
  z_->outReady = deflateInit(&z_->out, Z_DEFAULT_COMPRESSION) == Z_OK &&
                 deflateSetDictionary(&z_->out, reinterpret_cast<const Bytef*>(dictionary().data()), uInt(dictionary().size())) == Z_OK;
}

Codec::~Codec() = default;

Result<std::map<std::string, std::string>> Codec::inflateHeaders(std::string_view block) {
  if (!z_->inReady) return Error::internal("no zlib inflate context");
  std::string plain;
  z_stream& s = z_->in;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  s.avail_in = uInt(block.size());
  char buf[4096];
  while (s.avail_in > 0) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    int r = inflate(&s, Z_SYNC_FLUSH);
    if (r == Z_NEED_DICT) {
      if (inflateSetDictionary(&s, reinterpret_cast<const Bytef*>(dictionary().data()), uInt(dictionary().size())) != Z_OK)
        return Error::badRequest("SPDY header block asks for another dictionary than SPDY/3's");
      continue;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) return Error::badRequest("SPDY header block is not a valid zlib stream");
    plain.append(buf, sizeof buf - s.avail_out);
    if (plain.size() > kMaxHeaderBytes) return Error::badRequest("SPDY header block inflates past 64 KiB");
    if (r == Z_BUF_ERROR && s.avail_out != 0) break;  // no progress possible
  }
  std::map<std::string, std::string> headers;
  if (plain.size() < 4) return Error::badRequest("SPDY header block too short");
  uint32_t count = be32(plain, 0);
  size_t at = 4;
  for (uint32_t i = 0; i < count; ++i) {
    std::string kv[2];
    for (auto& part : kv) {
      if (plain.size() - at < 4) return Error::badRequest("SPDY header block ends inside a header");
      uint32_t n = be32(plain, at);
      at += 4;
      if (plain.size() - at < n) return Error::badRequest("SPDY header block ends inside a header");
      part.assign(plain, at, n);
      at += n;
    }
    std::transform(kv[0].begin(), kv[0].end(), kv[0].begin(), [](unsigned char c) { return char(std::tolower(c)); });
    // Several values of one name are NUL-separated: the first is what port-forward reads.
    headers[kv[0]] = kv[1].substr(0, kv[1].find('\0'));
  }
  return headers;
}

std::string Codec::deflateHeaders(const std::map<std::string, std::string>& headers) {
  std::string plain;
  put32(plain, uint32_t(headers.size()));
  for (const auto& [k, v] : headers) {
    put32(plain, uint32_t(k.size()));
    plain += k;
    put32(plain, uint32_t(v.size()));
    plain += v;
  }
  std::string out;
  if (!z_->outReady) return out;
  z_stream& s = z_->out;
  s.next_in = reinterpret_cast<Bytef*>(plain.data());
  s.avail_in = uInt(plain.size());
  char buf[4096];
  do {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    deflate(&s, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - s.avail_out);
  } while (s.avail_out == 0);
  return out;
}

Result<std::optional<Frame>> Codec::next() {
  if (in_.size() < 8) return std::optional<Frame>();
  size_t length = size_t(uint8_t(in_[5])) << 16 | size_t(uint8_t(in_[6])) << 8 | uint8_t(in_[7]);
  if (length > kMaxFrameBytes) return Error::badRequest("SPDY frame of " + std::to_string(length) + " bytes is over the 1 MiB limit");
  if (in_.size() < 8 + length) return std::optional<Frame>();
  Frame f;
  f.flags = uint8_t(in_[4]);
  std::string_view body(in_.data() + 8, length);
  bool control = uint8_t(in_[0]) & 0x80;
  auto finish = [&](Frame frame) -> Result<std::optional<Frame>> {
    in_.erase(0, 8 + length);
    return std::optional<Frame>(std::move(frame));
  };
  if (!control) {
    f.type = FrameType::kData;
    f.streamId = be32(in_, 0) & 0x7fffffff;
    f.data.assign(body);
    return finish(std::move(f));
  }
  uint16_t version = uint16_t((uint8_t(in_[0]) & 0x7f) << 8 | uint8_t(in_[1]));
  if (version != 3) return Error::badRequest("SPDY version " + std::to_string(version) + " is not spoken here (only 3)");
  f.type = FrameType(uint16_t(uint8_t(in_[2]) << 8 | uint8_t(in_[3])));
  auto need = [&](size_t n) { return body.size() >= n; };
  switch (f.type) {
    case FrameType::kSynStream: {
      if (!need(10)) return Error::badRequest("SPDY SYN_STREAM too short");
      f.streamId = be32(body, 0) & 0x7fffffff;
      auto h = inflateHeaders(body.substr(10));
      if (!h) return h.error();
      f.headers = std::move(*h);
      break;
    }
    case FrameType::kSynReply:
    case FrameType::kHeaders: {
      if (!need(4)) return Error::badRequest("SPDY header frame too short");
      f.streamId = be32(body, 0) & 0x7fffffff;
      auto h = inflateHeaders(body.substr(4));
      if (!h) return h.error();
      f.headers = std::move(*h);
      break;
    }
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
      if (!need(8)) return Error::badRequest("SPDY frame too short");
      f.streamId = be32(body, 0) & 0x7fffffff;
      f.value = be32(body, 4) & (f.type == FrameType::kWindowUpdate ? 0x7fffffff : 0xffffffff);
      break;
    case FrameType::kPing:
      if (!need(4)) return Error::badRequest("SPDY PING too short");
      f.value = be32(body, 0);
      break;
    case FrameType::kGoAway:
      if (!need(4)) return Error::badRequest("SPDY GOAWAY too short");
      f.streamId = be32(body, 0) & 0x7fffffff;
      f.value = need(8) ? be32(body, 4) : 0;
      break;
    default:  // SETTINGS and unknown control frames carry nothing a port-forward server uses
      break;
  }
  return finish(std::move(f));
}

std::string Codec::synReply(uint32_t streamId, const std::map<std::string, std::string>& headers, bool fin) {
  std::string block = deflateHeaders(headers);
  std::string out = controlHead(FrameType::kSynReply, fin ? kFlagFin : 0, 4 + block.size());
  put32(out, streamId & 0x7fffffff);
  return out + block;
}

std::string Codec::synStream(uint32_t streamId, const std::map<std::string, std::string>& headers, bool fin) {
  std::string block = deflateHeaders(headers);
  std::string out = controlHead(FrameType::kSynStream, fin ? kFlagFin : 0, 10 + block.size());
  put32(out, streamId & 0x7fffffff);
  put32(out, 0);
  out += char(0);
  out += char(0);
  return out + block;
}

std::string Codec::data(uint32_t streamId, std::string_view bytes, bool fin) {
  std::string out;
  put32(out, streamId & 0x7fffffff);
  out += char(fin ? kFlagFin : 0);
  out += char(bytes.size() >> 16);
  out += char(bytes.size() >> 8);
  out += char(bytes.size());
  out.append(bytes);
  return out;
}

std::string Codec::rstStream(uint32_t streamId, uint32_t status) {
  std::string out = controlHead(FrameType::kRstStream, 0, 8);
  put32(out, streamId & 0x7fffffff);
  put32(out, status);
  return out;
}

std::string Codec::ping(uint32_t id) {
  std::string out = controlHead(FrameType::kPing, 0, 4);
  put32(out, id);
  return out;
}

std::string Codec::goAway(uint32_t lastStreamId, uint32_t status) {
  std::string out = controlHead(FrameType::kGoAway, 0, 8);
  put32(out, lastStreamId & 0x7fffffff);
  put32(out, status);
  return out;
}

}  // namespace skiff::http::spdy
