// skiff helm: `template` renders a chart as `helm template` prints it (no cluster needed); install,
// upgrade, rollback, uninstall, list, status, history, get and test manage releases on the cluster
// of the kubeconfig, stored as Helm 3 stores them (src/helm/action.h), printing what helm prints.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/traffic_policy.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/flags.h"
#include "helm/action.h"
#include "helm/chart.h"
#include "helm/repository.h"

namespace skiff::cli {
namespace {
namespace json = boost::json;

Result<std::string> readAll(const std::string& path) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return Error::notFound("open " + path + ": no such file or directory");
  std::string s;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  if (f != stdin) std::fclose(f);
  return s;
}

// -f files in order, then --set and --set-string, later ones winning (as Helm merges them).
Result<helm::Value> userValues(const Flags& flags) {
  helm::Value values = boost::json::object();
  for (const auto& file : flags.all("values")) {
    auto text = readAll(file);
    if (!text.ok()) return text.error();
    auto docs = api::decodeManifests(*text);
    if (!docs.ok()) return Error::invalid("failed to parse " + file + ": " + docs.error().message);
    if (docs->empty()) continue;
    if (!(*docs)[0].is_object()) return Error::invalid("failed to parse " + file + ": values must be a YAML map");
    values = helm::coalesceValues(values, helm::asHelmValues((*docs)[0]));
  }
  for (const auto& s : flags.all("set"))
    if (auto st = helm::applySetValue(values, s, false); !st.ok()) return Error::invalid("failed parsing --set data: " + st.error().message);
  for (const auto& s : flags.all("set-string"))
    if (auto st = helm::applySetValue(values, s, true); !st.ok()) return Error::invalid("failed parsing --set-string data: " + st.error().message);
  return values;
}

std::vector<FlagSpec> valueFlags() {
  return {{"values", "f", true, true}, {"set", "", true, true}, {"set-string", "", true, true}, {"repo", "", true}, {"version", "", true}};
}

// CHART: a path, REPO/NAME from `skiff helm repo add`, or NAME with --repo URL (--version to pin).
Result<helm::Chart> chartOf(const Flags& flags, const std::string& chart) {
  return helm::locateChart(chart, flags.get("repo"), flags.get("version"));
}

int runTemplate(const std::vector<std::string>& args) {
  auto specs = valueFlags();
  specs.insert(specs.end(), {{"namespace", "n", true, false}, {"kube-version", "", true, false}, {"api-versions", "a", true, true}});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() != 2) return fail("usage: skiff helm template NAME CHART [-f values.yaml] [--set k=v] [--namespace N]");
  auto chart = chartOf(*flags, pos[1]);
  if (!chart) return fail(chart.error().message);
  auto values = userValues(*flags);
  if (!values) return fail(values.error().message);
  helm::ReleaseOptions release;
  release.name = pos[0];
  release.nameSpace = flags->get("namespace", "default");
  if (flags->has("kube-version")) release.kubeVersion = flags->get("kube-version");
  release.apiVersions = flags->all("api-versions");
  auto manifests = helm::renderChart(*chart, *values, release);
  if (!manifests) return fail(manifests.error().message);
  std::fputs(helm::formatTemplateOutput(*manifests).c_str(), stdout);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Release commands: one connection, as a client::Client, with kinds resolved by discovery.

struct Session {
  std::unique_ptr<Context> context;
  std::unique_ptr<client::RestClient> client;
  std::unique_ptr<helm::ActionContext> actions;
  std::string nameSpace;
};

Result<Session> connect(const Flags& flags) {
  Session s;
  auto ctx = Context::connect(flags);
  if (!ctx) return ctx.error();
  s.context = std::move(*ctx);
  auto rest = s.context->restClient();
  if (!rest) return rest.error();
  s.client = std::move(*rest);
  Context* c = s.context.get();
  // A kind discovery does not know yet may be one the chart's crds/ just defined: ask again once.
  s.actions.reset(new helm::ActionContext{*s.client, [c](const std::string& apiVersion, const std::string& kind) {
                                            auto type = c->resourceType(apiVersion, kind);
                                            if (type.ok()) return type;
                                            c->refreshDiscovery();
                                            return c->resourceType(apiVersion, kind);
                                          }});
  s.nameSpace = s.context->namespace_();
  return s;
}

Result<std::chrono::milliseconds> timeoutOf(const Flags& flags) {
  if (!flags.has("timeout")) return std::chrono::milliseconds(300000);
  auto ms = api::parseDurationMillis(flags.get("timeout"));
  if (!ms) return Error::invalid("invalid argument \"" + flags.get("timeout") + "\" for \"--timeout\" flag: a duration such as 90s or 5m0s");
  return std::chrono::milliseconds(*ms);
}

std::optional<int> parseInt(const std::string& text) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<int> intFlag(const Flags& flags, const std::string& name, int fallback) {
  if (!flags.has(name)) return fallback;
  if (auto v = parseInt(flags.get(name))) return *v;
  return Error::invalid("invalid argument \"" + flags.get(name) + "\" for \"--" + name + "\" flag: not a number");
}

// The block helm install/upgrade/status print.
void printStatus(const helm::Release& r, bool showTests) {
  std::printf("NAME: %s\nLAST DEPLOYED: %s\nNAMESPACE: %s\nSTATUS: %s\nREVISION: %d\n", r.name.c_str(),
              helm::formatTimeHuman(r.info.lastDeployed).c_str(), r.nameSpace.c_str(), helm::statusName(r.info.status).c_str(),
              r.version);
  bool ranTests = false;
  for (const auto& h : r.hooks) {
    if (std::find(h.events.begin(), h.events.end(), "test") == h.events.end() || !h.lastRun.startedAt) continue;
    if (!showTests) break;
    std::printf("TEST SUITE:     %s\nLast Started:   %s\nLast Completed: %s\nPhase:          %s\n", h.name.c_str(),
                helm::formatTimeHuman(h.lastRun.startedAt).c_str(), helm::formatTimeHuman(h.lastRun.completedAt).c_str(),
                h.lastRun.phase.c_str());
    ranTests = true;
  }
  if (!ranTests) std::printf("TEST SUITE: None\n");
  if (!r.info.notes.empty()) std::printf("NOTES:\n%s\n", r.info.notes.c_str());
}

// Helm's tables: every cell padded to its column's width, columns separated by a tab.
void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size(), ' ') + "\t";
    }
    std::printf("%s\n", line.c_str());
  }
}

// Go's time.Time String() in UTC, as `helm list` prints UPDATED: "2024-01-02 03:04:05.5 +0000 UTC".
std::string goTimeString(const helm::Timestamp& t) {
  std::string s = helm::formatTime(t);
  s[10] = ' ';
  s.pop_back();
  return s + " +0000 UTC";
}

std::string chartLabel(const helm::Release& r) { return r.chartName() + "-" + r.chartVersion(); }

std::vector<FlagSpec> releaseFlags(std::vector<FlagSpec> extra) {
  auto specs = commonFlags();
  specs.insert(specs.end(), extra.begin(), extra.end());
  return specs;
}

int runInstallOrUpgrade(const std::vector<std::string>& args, bool isUpgrade) {
  auto extra = valueFlags();
  extra.insert(extra.end(), {{"create-namespace", "", false}, {"wait", "", false}, {"timeout", "", true}, {"skip-crds", "", false}});
  if (isUpgrade)
    extra.insert(extra.end(), {{"install", "i", false}, {"reuse-values", "", false}, {"reset-values", "", false}, {"history-max", "", true}});
  auto flags = Flags::parse(args, releaseFlags(extra));
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  const char* verb = isUpgrade ? "upgrade" : "install";
  const char* failed = isUpgrade ? "UPGRADE FAILED: " : "INSTALLATION FAILED: ";
  if (pos.size() != 2)
    return fail(std::string("usage: skiff helm ") + verb + " NAME CHART [-n NS] [-f values.yaml] [--set k=v] [--wait] [--timeout 5m0s]" +
                (isUpgrade ? " [--install] [--reuse-values|--reset-values] [--history-max 10]" : " [--create-namespace]"));
  if (flags->has("reuse-values") && flags->has("reset-values")) return fail("--reuse-values and --reset-values are exclusive: give one");
  auto chart = chartOf(*flags, pos[1]);
  if (!chart) return fail(std::string(failed) + chart.error().message);
  auto values = userValues(*flags);
  if (!values) return fail(values.error().message);
  auto timeout = timeoutOf(*flags);
  if (!timeout) return fail(timeout.error().message);
  auto historyMax = intFlag(*flags, "history-max", 10);
  if (!historyMax) return fail(historyMax.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);

  helm::UpgradeOptions o;
  o.name = pos[0];
  o.nameSpace = session->nameSpace;
  o.wait = flags->has("wait");
  o.timeout = *timeout;
  o.chart = &*chart;
  o.values = *values;
  o.createNamespace = flags->has("create-namespace");
  o.skipCrds = flags->has("skip-crds");
  o.install = flags->has("install");
  o.reuseValues = flags->has("reuse-values");
  o.resetValues = flags->has("reset-values");
  o.valuesGiven = flags->has("values") || flags->has("set") || flags->has("set-string");
  o.historyMax = *historyMax;
  if (!isUpgrade) {
    auto r = helm::install(*session->actions, o);
    if (!r) return fail(std::string(failed) + r.error().message);
    printStatus(*r, false);
    return 0;
  }
  auto r = helm::upgrade(*session->actions, o);
  if (!r) return fail(std::string(failed) + r.error().message);
  if (r->installed) std::printf("Release \"%s\" does not exist. Installing it now.\n", o.name.c_str());
  else std::printf("Release \"%s\" has been upgraded. Happy Helming!\n", o.name.c_str());
  printStatus(r->release, false);
  return 0;
}

int runRollback(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"wait", "", false}, {"timeout", "", true}, {"history-max", "", true}}));
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.empty() || pos.size() > 2) return fail("usage: skiff helm rollback NAME [REVISION] [--wait] [--timeout 5m0s]");
  helm::RollbackOptions o;
  o.name = pos[0];
  if (pos.size() == 2) {
    auto rev = parseInt(pos[1]);
    if (!rev || *rev < 1) return fail("invalid revision \"" + pos[1] + "\": a revision is a number from `skiff helm history " + o.name + "`");
    o.revision = *rev;
  }
  auto timeout = timeoutOf(*flags);
  if (!timeout) return fail(timeout.error().message);
  auto historyMax = intFlag(*flags, "history-max", 10);
  if (!historyMax) return fail(historyMax.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  o.nameSpace = session->nameSpace;
  o.wait = flags->has("wait");
  o.timeout = *timeout;
  o.historyMax = *historyMax;
  auto r = helm::rollback(*session->actions, o);
  if (!r) return fail(r.error().message);
  std::printf("Rollback was a success! Happy Helming!\n");
  return 0;
}

int runUninstall(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"keep-history", "", false}, {"timeout", "", true}}));
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() != 1) return fail("usage: skiff helm uninstall NAME [--keep-history] [--timeout 5m0s]");
  auto timeout = timeoutOf(*flags);
  if (!timeout) return fail(timeout.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  helm::DeployOptions o;
  o.name = pos[0];
  o.nameSpace = session->nameSpace;
  o.timeout = *timeout;
  auto r = helm::uninstall(*session->actions, o, flags->has("keep-history"));
  if (!r) return fail(r.error().message);
  if (!r->kept.empty()) {
    std::printf("These resources were kept due to the resource policy:\n");
    for (const auto& k : r->kept) std::printf("%s\n", k.c_str());
  }
  std::printf("release \"%s\" uninstalled\n", o.name.c_str());
  return 0;
}

int runList(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"all-namespaces", "A", false}, {"all", "a", false}}));
  if (!flags) return fail(flags.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  helm::ReleaseStorage storage(*session->client);
  auto releases = storage.latestOfEach(flags->has("all-namespaces") ? "" : session->nameSpace);
  if (!releases) return fail(releases.error().message);
  std::vector<std::vector<std::string>> rows{{"NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"}};
  for (const auto& r : *releases) {
    // Without --all Helm lists deployed and failed releases only.
    bool shown = flags->has("all") || r.info.status == helm::ReleaseStatus::Deployed || r.info.status == helm::ReleaseStatus::Failed;
    if (!shown) continue;
    rows.push_back({r.name, r.nameSpace, std::to_string(r.version), goTimeString(r.info.lastDeployed),
                    helm::statusName(r.info.status), chartLabel(r), r.appVersion()});
  }
  printTable(rows);
  return 0;
}

int runStatus(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({}));
  if (!flags) return fail(flags.error().message);
  if (flags->positional().size() != 1) return fail("usage: skiff helm status NAME [-n NS]");
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  auto r = helm::latest(*session->actions, session->nameSpace, flags->positional()[0]);
  if (!r) return fail(r.error().message);
  printStatus(*r, true);
  return 0;
}

int runHistory(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"max", "", true}}));
  if (!flags) return fail(flags.error().message);
  if (flags->positional().size() != 1) return fail("usage: skiff helm history NAME [-n NS] [--max N]");
  auto max = intFlag(*flags, "max", 256);
  if (!max) return fail(max.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  helm::ReleaseStorage storage(*session->client);
  auto history = storage.history(session->nameSpace, flags->positional()[0]);
  if (!history) return fail(history.error().message);
  if (history->empty()) return fail("release: not found");
  std::vector<std::vector<std::string>> rows{{"REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"}};
  size_t start = history->size() > size_t(*max) ? history->size() - size_t(*max) : 0;
  for (size_t i = start; i < history->size(); ++i) {
    const auto& r = (*history)[i];
    rows.push_back({std::to_string(r.version), helm::formatTimeHuman(r.info.lastDeployed), helm::statusName(r.info.status),
                    chartLabel(r), r.appVersion(), r.info.description});
  }
  printTable(rows);
  return 0;
}

int runGetRelease(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"all", "a", false}, {"revision", "", true}}));
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() != 2 || (pos[0] != "values" && pos[0] != "manifest" && pos[0] != "notes" && pos[0] != "hooks"))
    return fail("usage: skiff helm get values|manifest|notes|hooks NAME [-n NS] [--revision N] [-a]");
  auto revision = intFlag(*flags, "revision", 0);
  if (!revision) return fail(revision.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  helm::ReleaseStorage storage(*session->client);
  auto history = storage.history(session->nameSpace, pos[1]);
  if (!history) return fail(history.error().message);
  const helm::Release* r = history->empty() ? nullptr : &history->back();
  if (*revision > 0) {
    r = nullptr;
    for (const auto& h : *history)
      if (h.version == *revision) r = &h;
  }
  if (!r) return fail("release: not found");
  if (pos[0] == "manifest") {
    std::fputs(r->manifest.c_str(), stdout);
  } else if (pos[0] == "notes") {
    std::printf("NOTES:\n%s\n", r->info.notes.c_str());
  } else if (pos[0] == "hooks") {
    for (const auto& h : r->hooks) std::printf("---\n# Source: %s\n%s\n", h.path.c_str(), h.manifest.c_str());
  } else if (flags->has("all")) {
    std::printf("COMPUTED VALUES:\n%s", api::toYaml(helm::coalesceValues(r->chartValues(), r->config.is_object() ? r->config : helm::Value(json::object()))).c_str());
  } else {
    bool none = !r->config.is_object() || r->config.get_object().empty();
    std::printf("USER-SUPPLIED VALUES:\n%s", none ? "null\n" : api::toYaml(r->config).c_str());
  }
  return 0;
}

int runTest(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, releaseFlags({{"timeout", "", true}}));
  if (!flags) return fail(flags.error().message);
  if (flags->positional().size() != 1) return fail("usage: skiff helm test NAME [-n NS] [--timeout 5m0s]");
  auto timeout = timeoutOf(*flags);
  if (!timeout) return fail(timeout.error().message);
  auto session = connect(*flags);
  if (!session) return fail(session.error().message);
  helm::DeployOptions o;
  o.name = flags->positional()[0];
  o.nameSpace = session->nameSpace;
  o.timeout = *timeout;
  auto r = helm::test(*session->actions, o);
  if (!r) return fail(r.error().message);
  printStatus(*r, true);
  return 0;
}

int runRepo(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, {});
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  std::string config = helm::repositoryConfigPath();
  if (pos.size() == 3 && pos[0] == "add") {
    if (auto st = helm::addRepository(config, {pos[1], pos[2]}); !st.ok()) return fail(st.error().message);
    std::printf("\"%s\" has been added to your repositories\n", pos[1].c_str());
    return 0;
  }
  if (pos.size() == 1 && pos[0] == "list") {
    auto repos = helm::loadRepositories(config);
    if (!repos) return fail(repos.error().message);
    if (repos->empty()) return fail("no repositories to show");
    std::vector<std::vector<std::string>> rows{{"NAME", "URL"}};
    for (const auto& r : *repos) rows.push_back({r.name, r.url});
    printTable(rows);
    return 0;
  }
  return fail("usage: skiff helm repo add NAME URL | skiff helm repo list");
}

constexpr const char* kUsage =
    "usage: skiff helm template|install|upgrade|rollback|uninstall|list|status|history|get|test ...\n"
    "  template NAME CHART [-f values.yaml] [--set k=v]   render a chart (no cluster)\n"
    "  install NAME CHART [-n NS] [--create-namespace] [-f] [--set] [--wait] [--timeout 5m0s]\n"
    "  upgrade NAME CHART [--install] [--reuse-values|--reset-values] [--history-max 10]\n"
    "  rollback NAME [REVISION]   uninstall NAME [--keep-history]   list [-A] [-a]\n"
    "  status NAME   history NAME   get values|manifest|notes|hooks NAME   test NAME\n"
    "  repo add NAME URL | repo list   (CHART may then be REPO/NAME, or NAME with --repo URL [--version V])";

}  // namespace

int runHelm(const Args& args) {
  if (args.empty()) return fail(kUsage);
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  if (sub == "template") return runTemplate(rest);
  if (sub == "install") return runInstallOrUpgrade(rest, false);
  if (sub == "upgrade") return runInstallOrUpgrade(rest, true);
  if (sub == "rollback") return runRollback(rest);
  if (sub == "uninstall" || sub == "delete" || sub == "un") return runUninstall(rest);
  if (sub == "list" || sub == "ls") return runList(rest);
  if (sub == "status") return runStatus(rest);
  if (sub == "history" || sub == "hist") return runHistory(rest);
  if (sub == "get") return runGetRelease(rest);
  if (sub == "test") return runTest(rest);
  if (sub == "repo") return runRepo(rest);
  return fail("unknown helm command \"" + sub + "\"\n" + kUsage);
}

}  // namespace skiff::cli
