#include "dns/message.h"

#include <arpa/inet.h>

#include <cctype>

namespace skiff::dns {
namespace {

uint16_t read16(std::string_view p, size_t at) {
  return uint16_t((static_cast<unsigned char>(p[at]) << 8) | static_cast<unsigned char>(p[at + 1]));
}

void put16(std::string& out, uint16_t v) {
  out += char(v >> 8);
  out += char(v & 0xff);
}

void put32(std::string& out, uint32_t v) {
  put16(out, uint16_t(v >> 16));
  put16(out, uint16_t(v & 0xffff));
}

// Reads a (possibly compressed) name starting at `at`; `end` is where the name's own bytes stop.
Result<std::string> readName(std::string_view p, size_t at, size_t& end) {
  std::string name;
  bool jumped = false;
  for (int hops = 0; hops < 64; ++hops) {
    if (at >= p.size()) return Error::badRequest("name runs past the packet");
    uint8_t len = static_cast<unsigned char>(p[at]);
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= p.size()) return Error::badRequest("truncated compression pointer");
      if (!jumped) end = at + 2;
      jumped = true;
      at = read16(p, at) & 0x3fff;
      continue;
    }
    if (len & 0xc0) return Error::badRequest("unsupported label type");
    if (len == 0) {
      if (!jumped) end = at + 1;
      return name;
    }
    if (at + 1 + len > p.size()) return Error::badRequest("label runs past the packet");
    if (!name.empty()) name += '.';
    for (size_t i = 0; i < len; ++i) name += char(std::tolower(static_cast<unsigned char>(p[at + 1 + i])));
    if (name.size() > 255) return Error::badRequest("name longer than 255 bytes");
    at += 1 + len;
  }
  return Error::badRequest("too many compression pointers");
}

void writeName(std::string& out, std::string_view name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.size() > 63) label = label.substr(0, 63);
    out += char(label.size());
    out.append(label);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  out += '\0';
}

}  // namespace

Result<Query> parseQuery(std::string_view p) {
  if (p.size() < 12) return Error::badRequest("packet shorter than a DNS header");
  Query q;
  q.id = read16(p, 0);
  q.flags = read16(p, 2);
  if (q.flags & 0x8000) return Error::badRequest("not a query");
  if (read16(p, 4) != 1) return Error::badRequest("exactly one question is supported");
  size_t end = 12;
  auto name = readName(p, 12, end);
  if (!name) return name.error();
  if (end + 4 > p.size()) return Error::badRequest("question runs past the packet");
  q.question.name = *name;
  q.question.type = read16(p, end);
  q.question.klass = read16(p, end + 2);
  return q;
}

std::string buildResponse(const Query& query, uint8_t rcode, const std::vector<Record>& answers, bool authoritative) {
  std::string out;
  put16(out, query.id);
  uint16_t flags = uint16_t(0x8000 | (query.flags & 0x7900) | 0x0080 | (authoritative ? 0x0400 : 0) | (rcode & 0x0f));  // QR, opcode+RD kept, RA
  put16(out, flags);
  put16(out, 1);
  put16(out, uint16_t(answers.size()));
  put16(out, 0);
  put16(out, 0);
  writeName(out, query.question.name);
  put16(out, query.question.type);
  put16(out, query.question.klass);
  for (const auto& r : answers) {
    writeName(out, r.name);
    put16(out, r.type);
    put16(out, 1);
    put32(out, r.ttl);
    std::string rdata;
    if (r.type == kSRV) {
      put16(rdata, r.priority);
      put16(rdata, r.weight);
      put16(rdata, r.port);
      writeName(rdata, r.data);
    } else if (r.type == kPTR || r.type == kCNAME) {
      writeName(rdata, r.data);
    } else {
      rdata = r.data;
    }
    put16(out, uint16_t(rdata.size()));
    out += rdata;
  }
  return out;
}

}  // namespace skiff::dns
