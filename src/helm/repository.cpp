#include "helm/repository.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "api/codec.h"
#include "http/http.h"

namespace skiff::helm {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxDownload = 64u << 20;

// GET over http or https (verified against the system's roots); the body of a 200 answer.
Result<std::string> download(const std::string& url) {
  bool tls = url.rfind("https://", 0) == 0;
  if (!tls && url.rfind("http://", 0) != 0) return Error::badRequest("\"" + url + "\" is not an http:// or https:// URL");
  auto hostPort = http::parseHostPort(url, tls ? 443 : 80);
  if (!hostPort.ok()) return hostPort.error();
  size_t schemeEnd = url.find("://") + 3;
  size_t slash = url.find('/', schemeEnd);
  std::string target = slash == std::string::npos ? "/" : url.substr(slash);
  http::Client client(hostPort->first, hostPort->second, "", tls ? http::Client::kSystemRoots : "", url);
  client.setTimeout(std::chrono::seconds(120));
  auto response = client.request("GET", target, "", "", {{"Accept", "*/*"}});
  if (!response.ok()) return response.error();
  if (response->status != 200)
    return Error{response->status == 404 ? 404 : 502, "", "failed to fetch " + url + " : " + std::to_string(response->status) + " answered", {}};
  if (response->body.size() > kMaxDownload) return Error::invalid(url + " is larger than 64 MiB");
  return response->body;
}

std::string trimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Result<Value> fetchIndex(const std::string& repoUrl) {
  std::string url = trimSlash(repoUrl) + "/index.yaml";
  auto body = download(url);
  if (!body.ok())
    return Error::notFound("looks like \"" + repoUrl + "\" is not a valid chart repository or cannot be reached: " + body.error().message);
  auto docs = api::decodeManifests(*body);
  if (!docs.ok() || docs->empty() || !(*docs)[0].is_object() || !(*docs)[0].get_object().contains("entries"))
    return Error::invalid("looks like \"" + repoUrl + "\" is not a valid chart repository or cannot be reached: " + url +
                          " is not a chart repository index (no entries)");
  return (*docs)[0];
}

std::string textOf(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return "";
  if (v->is_string()) return std::string(v->get_string());
  return v->is_null() ? "" : json::serialize(*v);  // a version YAML read as a number
}

// "1.2.3-rc.1+build" → numeric core, and the pre-release part ("" for a release).
struct SemVer {
  std::vector<long> core;
  std::string pre;
};
SemVer parseSemVer(std::string v) {
  if (!v.empty() && v[0] == 'v') v.erase(0, 1);
  if (auto plus = v.find('+'); plus != std::string::npos) v.resize(plus);
  SemVer s;
  if (auto dash = v.find('-'); dash != std::string::npos) {
    s.pre = v.substr(dash + 1);
    v.resize(dash);
  }
  std::stringstream ss(v);
  std::string part;
  while (std::getline(ss, part, '.')) s.core.push_back(std::strtol(part.c_str(), nullptr, 10));
  while (s.core.size() < 3) s.core.push_back(0);
  return s;
}

}  // namespace

int compareVersions(const std::string& a, const std::string& b) {
  SemVer x = parseSemVer(a), y = parseSemVer(b);
  for (size_t i = 0; i < std::min(x.core.size(), y.core.size()); ++i)
    if (x.core[i] != y.core[i]) return x.core[i] < y.core[i] ? -1 : 1;
  if (x.pre == y.pre) return 0;
  if (x.pre.empty()) return 1;
  if (y.pre.empty()) return -1;
  return x.pre < y.pre ? -1 : 1;
}

std::string repositoryConfigPath() {
  if (const char* p = std::getenv("HELM_REPOSITORY_CONFIG"); p && *p) return p;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.config/helm/repositories.yaml";
}

Result<std::vector<Repository>> loadRepositories(const std::string& path) {
  std::vector<Repository> out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  auto docs = api::decodeManifests(ss.str());
  if (!docs.ok()) return Error::invalid(path + " is not valid YAML: " + docs.error().message);
  if (docs->empty() || !(*docs)[0].is_object()) return out;
  const json::value* repos = (*docs)[0].get_object().if_contains("repositories");
  if (repos && repos->is_array())
    for (const auto& r : repos->get_array())
      if (r.is_object()) out.push_back({textOf(r.get_object(), "name"), textOf(r.get_object(), "url")});
  return out;
}

Status addRepository(const std::string& path, const Repository& repo) {
  if (repo.name.empty() || repo.name.find('/') != std::string::npos)
    return Error::invalid("repository name (" + repo.name + ") contains '/', please specify a different name without '/'");
  auto index = fetchIndex(repo.url);
  if (!index.ok()) return index.error();
  auto repos = loadRepositories(path);
  if (!repos.ok()) return repos.error();
  json::array list;
  bool replaced = false;
  for (auto r : *repos) {
    if (r.name == repo.name) {
      r = repo;
      replaced = true;
    }
    list.push_back(json::object{{"name", r.name}, {"url", r.url}});
  }
  if (!replaced) list.push_back(json::object{{"name", repo.name}, {"url", repo.url}});
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::ofstream out(path, std::ios::trunc);
  if (!out) return Error::internal("cannot write " + path);
  out << api::toYaml(json::object{{"apiVersion", ""}, {"generated", "0001-01-01T00:00:00Z"}, {"repositories", list}});
  if (!out) return Error::internal("cannot write " + path);
  return {};
}

Result<ChartVersion> findChartVersion(const Value& index, const std::string& repoUrl, const std::string& chart,
                                      const std::string& version) {
  const json::value* entries = index.get_object().if_contains("entries");
  const json::value* list = entries && entries->is_object() ? entries->get_object().if_contains(chart) : nullptr;
  if (!list || !list->is_array() || list->get_array().empty())
    return Error::notFound("chart \"" + chart + "\" not found in " + repoUrl + " repository");
  const json::object* best = nullptr;
  for (const auto& e : list->get_array()) {
    if (!e.is_object()) continue;
    std::string v = textOf(e.get_object(), "version");
    if (!version.empty()) {
      if (v == version || (v.size() > 1 && v[0] == 'v' && v.substr(1) == version)) best = &e.get_object();
      continue;
    }
    if (v.find('-') != std::string::npos) continue;  // pre-releases need an explicit version
    if (!best || compareVersions(v, textOf(*best, "version")) > 0) best = &e.get_object();
  }
  if (!best)
    return Error::notFound("chart \"" + chart + "\"" + (version.empty() ? "" : " version \"" + version + "\"") + " not found in " +
                           repoUrl + " repository");
  ChartVersion out{chart, textOf(*best, "version"), {}};
  if (const json::value* urls = best->if_contains("urls"); urls && urls->is_array())
    for (const auto& u : urls->get_array())
      if (u.is_string()) out.urls.emplace_back(u.get_string());
  if (out.urls.empty()) return Error::invalid("chart \"" + chart + "\" version " + out.version + " in " + repoUrl + " has no download URL");
  return out;
}

Result<Chart> fetchChart(const std::string& repoUrl, const std::string& chart, const std::string& version) {
  auto index = fetchIndex(repoUrl);
  if (!index.ok()) return index.error();
  auto found = findChartVersion(*index, repoUrl, chart, version);
  if (!found.ok()) return found.error();
  std::string url = found->urls[0];
  if (url.find("://") == std::string::npos) url = trimSlash(repoUrl) + "/" + url;
  auto archive = download(url);
  if (!archive.ok()) return archive.error();
  return loadChartArchive(*archive, url);
}

Result<Chart> locateChart(const std::string& chart, const std::string& repoUrl, const std::string& version) {
  if (!repoUrl.empty()) return fetchChart(repoUrl, chart, version);
  std::error_code ec;
  auto slash = chart.find('/');
  if (fs::exists(chart, ec) || slash == std::string::npos || chart[0] == '.' || chart[0] == '/') return loadChart(chart);
  auto repos = loadRepositories(repositoryConfigPath());
  if (!repos.ok()) return repos.error();
  std::string name = chart.substr(0, slash);
  for (const auto& r : *repos)
    if (r.name == name) return fetchChart(r.url, chart.substr(slash + 1), version);
  return Error::notFound("repo " + name + " not found (add it with `skiff helm repo add " + name + " URL`, or give a chart path)");
}

}  // namespace skiff::helm
