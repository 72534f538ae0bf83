// DNS wire format (RFC 1035), just what a cluster DNS server needs: read a query's header and
// question (names with compression pointers, bounded), and write answers (A, AAAA, SRV, PTR, CNAME)
// with the query's id and flags. Queries are untrusted input (fuzzed).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace skiff::dns {

enum RecordType : uint16_t { kA = 1, kCNAME = 5, kSOA = 6, kPTR = 12, kAAAA = 28, kSRV = 33, kANY = 255 };
enum ResponseCode : uint8_t { kNoError = 0, kFormErr = 1, kServFail = 2, kNXDomain = 3, kNotImp = 4, kRefused = 5 };

struct Question {
  std::string name;  // lower-case, no trailing dot
  uint16_t type = kA;
  uint16_t klass = 1;
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;
  Question question;
};

struct Record {
  std::string name;
  uint16_t type = kA;
  uint32_t ttl = 30;
  std::string data;  // A: 4 bytes; AAAA: 16; PTR/CNAME: a name; SRV: priority weight port target
  uint16_t priority = 0, weight = 0, port = 0;  // SRV
};

Result<Query> parseQuery(std::string_view packet);
// An answer to `query` with `records`; rcode NXDOMAIN/NOERROR etc. Authoritative for our zone.
std::string buildResponse(const Query& query, uint8_t rcode, const std::vector<Record>& answers, bool authoritative);

}  // namespace skiff::dns
