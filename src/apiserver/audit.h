// Audit logging as kube-apiserver does it (--audit-policy-file, --audit-log-path,
// --audit-log-maxsize, --audit-log-maxbackup): an audit.k8s.io/v1 Policy decides each request's
// level by its first matching rule (users, userGroups, verbs, resources with group and
// resourceNames, namespaces, nonResourceURLs with a trailing `*`); None writes nothing, Metadata
// the request's who/what/result, Request adds the request body, RequestResponse the response body.
// Events are audit.k8s.io/v1 Event objects, one JSON line each: stage ResponseComplete for
// requests, ResponseStarted for long-running ones (watches, exec, logs -f) when they start; the
// policy's and rules' omitStages drop stages. The file rotates at maxsize MiB keeping maxbackup
// older files (path.1 newest).
//
// Threading: log() from any thread (one mutex around the file).
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "auth/request_info.h"
#include "auth/user.h"
#include "common/result.h"

namespace skiff::apiserver {

enum class AuditLevel { None = 0, Metadata = 1, Request = 2, RequestResponse = 3 };

struct AuditRule {
  AuditLevel level = AuditLevel::None;
  std::set<std::string> users, userGroups, verbs, namespaces;
  struct Resources {
    std::string group;
    std::set<std::string> resources, resourceNames;  // "pods", "pods/log", "*", "*/status"
  };
  std::vector<Resources> resources;
  std::vector<std::string> nonResourceURLs;
  std::set<std::string> omitStages;
  bool matches(const auth::UserInfo& user, const auth::RequestInfo& r) const;
};

struct AuditPolicy {
  std::vector<AuditRule> rules;
  std::set<std::string> omitStages;
  // The policy file's text (YAML or JSON); a clear error with the rule's path when it is wrong.
  static Result<AuditPolicy> parse(std::string_view text);
  // The first matching rule's level and its omitted stages (None when no rule matches).
  std::pair<AuditLevel, std::set<std::string>> decide(const auth::UserInfo& user, const auth::RequestInfo& r) const;
};

struct AuditOptions {
  std::string policyFile, logPath;
  size_t maxSizeMiB = 100;  // kube-apiserver's default is unlimited; 100 keeps a disk bounded
  int maxBackups = 10;
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const AuditOptions& options);
  ~AuditLog();
  struct Entry {
    const auth::UserInfo* user = nullptr;
    const auth::RequestInfo* info = nullptr;
    std::string method, requestURI, userAgent, sourceIp;
    int code = 0;
    bool longRunning = false;
    // The request's object (decoded as the API decodes it: JSON, YAML or protobuf), asked for
    // only at the levels that record it; null when there is none.
    std::function<boost::json::value()> requestObject;
    std::string responseBody;  // kept only at RequestResponse
    std::string received;                   // RFC 3339 with microseconds
  };
  void log(const Entry& e);
  // Whether this request's level records the response body (so it is kept only then).
  bool wantsResponse(const auth::UserInfo& user, const auth::RequestInfo& r) const {
    return policy_.decide(user, r).first == AuditLevel::RequestResponse;
  }

 private:
  void write(const std::string& line);
  void rotate();
  AuditPolicy policy_;
  AuditOptions options_;
  std::mutex mutex_;
  FILE* file_ = nullptr;
  size_t size_ = 0;
};

}  // namespace skiff::apiserver
