#include "apiserver/audit.h"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/codec.h"
#include "api/object.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {

std::set<std::string> stringSet(const json::value& v, std::string_view path) {
  auto list = api::stringsAt(v, path);
  return {list.begin(), list.end()};
}

Result<AuditLevel> levelOf(const std::string& s, const std::string& where) {
  if (s == "None") return AuditLevel::None;
  if (s == "Metadata") return AuditLevel::Metadata;
  if (s == "Request") return AuditLevel::Request;
  if (s == "RequestResponse") return AuditLevel::RequestResponse;
  return Error::invalid(where + ".level: Unsupported value: \"" + s + "\": supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\"");
}

Status checkStages(const std::set<std::string>& stages, const std::string& where) {
  for (const auto& s : stages)
    if (s != "RequestReceived" && s != "ResponseStarted" && s != "ResponseComplete" && s != "Panic")
      return Error::invalid(where + ".omitStages: Unsupported value: \"" + s +
                            "\": supported values: \"RequestReceived\", \"ResponseStarted\", \"ResponseComplete\", \"Panic\"");
  return {};
}

bool inOrAny(const std::set<std::string>& set, const std::string& v) { return set.empty() || set.count(v); }

std::string levelName(AuditLevel l) {
  switch (l) {
    case AuditLevel::None: return "None";
    case AuditLevel::Metadata: return "Metadata";
    case AuditLevel::Request: return "Request";
    case AuditLevel::RequestResponse: return "RequestResponse";
  }
  return "None";
}

std::string microTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::string base = api::rfc3339(int64_t(secs));  // ...Z
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(micros));
  return base.substr(0, base.size() - 1) + frac;
}

}  // namespace

bool AuditRule::matches(const auth::UserInfo& user, const auth::RequestInfo& r) const {
  if (!users.empty() && !users.count(user.name)) return false;
  if (!userGroups.empty() && std::none_of(user.groups.begin(), user.groups.end(), [&](const std::string& g) { return userGroups.count(g) > 0; }))
    return false;
  if (!inOrAny(verbs, r.verb)) return false;
  if (!r.isResource) {
    if (!resources.empty() || !namespaces.empty()) return false;
    if (nonResourceURLs.empty()) return true;
    for (const auto& u : nonResourceURLs)
      if (u == r.path || (u.ends_with("*") && r.path.starts_with(u.substr(0, u.size() - 1)))) return true;
    return false;
  }
  if (!nonResourceURLs.empty()) return false;
  if (!namespaces.empty() && !namespaces.count(r.ns)) return false;
  if (resources.empty()) return true;
  std::string full = r.subresource.empty() ? r.resource : r.resource + "/" + r.subresource;
  for (const auto& g : resources) {
    if (g.group != r.apiGroup && g.group != "*") continue;
    bool kind = g.resources.empty() || g.resources.count(full) || g.resources.count("*") ||
                (!r.subresource.empty() && (g.resources.count(r.resource + "/*") || g.resources.count("*/" + r.subresource)));
    if (!kind) continue;
    if (!g.resourceNames.empty() && !g.resourceNames.count(r.name)) continue;
    return true;
  }
  return false;
}

Result<AuditPolicy> AuditPolicy::parse(std::string_view text) {
  auto docs = api::decodeManifests(text);
  if (!docs) return Error::invalid("the audit policy is not YAML or JSON: " + docs.error().message);
  if (docs->size() != 1) return Error::invalid("the audit policy file must hold one Policy (audit.k8s.io/v1)");
  const json::value& doc = docs->front();
  if (api::stringAt(doc, "kind") != "Policy" || (api::stringAt(doc, "apiVersion") != "audit.k8s.io/v1"))
    return Error::invalid("the audit policy must be kind: Policy, apiVersion: audit.k8s.io/v1 (got " + api::stringAt(doc, "apiVersion") +
                          " " + api::stringAt(doc, "kind") + ")");
  AuditPolicy p;
  p.omitStages = stringSet(doc, "omitStages");
  if (Status s = checkStages(p.omitStages, "policy"); !s) return s.error();
  const auto& rules = api::arrayAt(doc, "rules");
  if (rules.empty()) return Error::invalid("rules: Required value: an audit policy needs at least one rule");
  for (size_t i = 0; i < rules.size(); ++i) {
    const json::value& r = rules[i];
    std::string where = "rules[" + std::to_string(i) + "]";
    AuditRule rule;
    auto level = levelOf(api::stringAt(r, "level"), where);
    if (!level) return level.error();
    rule.level = *level;
    rule.users = stringSet(r, "users");
    rule.userGroups = stringSet(r, "userGroups");
    rule.verbs = stringSet(r, "verbs");
    rule.namespaces = stringSet(r, "namespaces");
    rule.nonResourceURLs = api::stringsAt(r, "nonResourceURLs");
    rule.omitStages = stringSet(r, "omitStages");
    if (Status s = checkStages(rule.omitStages, where); !s) return s.error();
    for (const auto& g : api::arrayAt(r, "resources"))
      rule.resources.push_back({api::stringAt(g, "group"), stringSet(g, "resources"), stringSet(g, "resourceNames")});
    if (!rule.nonResourceURLs.empty() && (!rule.resources.empty() || !rule.namespaces.empty()))
      return Error::invalid(where + ": rules can apply to API resources or non-resource URLs, but not both");
    p.rules.push_back(std::move(rule));
  }
  return p;
}

std::pair<AuditLevel, std::set<std::string>> AuditPolicy::decide(const auth::UserInfo& user, const auth::RequestInfo& r) const {
  for (const auto& rule : rules)
    if (rule.matches(user, r)) {
      std::set<std::string> omit = omitStages;
      omit.insert(rule.omitStages.begin(), rule.omitStages.end());
      return {rule.level, omit};
    }
  return {AuditLevel::None, {}};
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const AuditOptions& options) {
  std::ifstream in(options.policyFile);
  if (!in) return Error::invalid("--audit-policy-file " + options.policyFile + ": cannot read it: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  auto policy = AuditPolicy::parse(text.str());
  if (!policy) return Error::invalid("--audit-policy-file " + options.policyFile + ": " + policy.error().message);
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->policy_ = std::move(*policy);
  log->options_ = options;
  if (options.logPath == "-") {
    log->file_ = stdout;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(options.logPath).parent_path(), ec);
    log->file_ = std::fopen(options.logPath.c_str(), "a");
    if (!log->file_) return Error::invalid("--audit-log-path " + options.logPath + ": " + std::strerror(errno));
    ::chmod(options.logPath.c_str(), 0600);
    struct stat st{};
    if (::stat(options.logPath.c_str(), &st) == 0) log->size_ = size_t(st.st_size);
  }
  return log;
}

AuditLog::~AuditLog() {
  if (file_ && file_ != stdout) std::fclose(file_);
}

void AuditLog::rotate() {
  if (file_ == stdout) return;
  std::fclose(file_);
  // path.N-1 → path.N ... path → path.1; the oldest beyond maxBackups goes.
  for (int i = options_.maxBackups; i >= 1; --i) {
    std::string from = i == 1 ? options_.logPath : options_.logPath + "." + std::to_string(i - 1);
    std::string to = options_.logPath + "." + std::to_string(i);
    std::rename(from.c_str(), to.c_str());
  }
  if (options_.maxBackups <= 0) std::remove(options_.logPath.c_str());
  file_ = std::fopen(options_.logPath.c_str(), "a");
  if (file_) ::chmod(options_.logPath.c_str(), 0600);
  size_ = 0;
}

void AuditLog::write(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (!file_) return;
  if (options_.maxSizeMiB > 0 && size_ + line.size() > options_.maxSizeMiB * 1024 * 1024 && size_ > 0) rotate();
  if (!file_) return;
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
  size_ += line.size();
}

void AuditLog::log(const Entry& e) {
  auto [level, omit] = policy_.decide(*e.user, *e.info);
  if (level == AuditLevel::None) return;
  std::string stage = e.longRunning ? "ResponseStarted" : "ResponseComplete";
  if (omit.count(stage)) return;
  const auth::RequestInfo& r = *e.info;
  json::object event{{"kind", "Event"},
                     {"apiVersion", "audit.k8s.io/v1"},
                     {"level", levelName(level)},
                     {"auditID", api::newUid()},
                     {"stage", stage},
                     {"requestURI", e.requestURI},
                     {"verb", r.verb},
                     {"user", json::object{{"username", e.user->name}, {"groups", json::value_from(e.user->groups)}}},
                     {"sourceIPs", json::array{json::string(e.sourceIp)}},
                     {"userAgent", e.userAgent},
                     {"responseStatus", json::object{{"metadata", json::object()}, {"code", e.code}}},
                     {"requestReceivedTimestamp", e.received},
                     {"stageTimestamp", microTimeNow()}};
  if (r.isResource) {
    json::object ref{{"resource", r.resource}, {"apiVersion", r.apiVersion}};
    if (!r.ns.empty()) ref["namespace"] = r.ns;
    if (!r.name.empty()) ref["name"] = r.name;
    if (!r.apiGroup.empty()) ref["apiGroup"] = r.apiGroup;
    if (!r.subresource.empty()) ref["subresource"] = r.subresource;
    event["objectRef"] = std::move(ref);
  }
  auto bodyOf = [](const std::string& text) -> json::value {
    if (text.empty()) return nullptr;
    auto parsed = api::decodeJson(text);
    return parsed ? std::move(*parsed) : json::value(nullptr);
  };
  if (level >= AuditLevel::Request && e.requestObject)
    if (json::value body = e.requestObject(); !body.is_null()) event["requestObject"] = std::move(body);
  if (level >= AuditLevel::RequestResponse && !e.longRunning)
    if (json::value body = bodyOf(e.responseBody); !body.is_null()) event["responseObject"] = std::move(body);
  write(json::serialize(event) + "\n");
}

}  // namespace skiff::apiserver
