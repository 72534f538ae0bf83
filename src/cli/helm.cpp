// skiff helm template: renders a chart as `helm template` prints it (no cluster needed).
#include <cstdio>

#include "api/codec.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "helm/chart.h"

namespace skiff::cli {
namespace {

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

int runTemplate(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, {{"values", "f", true, true}, {"set", "", true, true}, {"set-string", "", true, true},
                                   {"namespace", "n", true, false}, {"kube-version", "", true, false},
                                   {"api-versions", "a", true, true}});
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() != 2) return fail("usage: skiff helm template NAME CHART [-f values.yaml] [--set k=v] [--namespace N]");
  auto chart = helm::loadChart(pos[1]);
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

}  // namespace

int runHelm(const Args& args) {
  if (args.empty() || args[0] != "template")
    return fail("usage: skiff helm template NAME CHART [-f values.yaml] [--set k=v] [--set-string k=v] [--namespace N]");
  return runTemplate(std::vector<std::string>(args.begin() + 1, args.end()));
}

}  // namespace skiff::cli
