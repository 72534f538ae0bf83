// Helm charts: loading a chart directory (with subcharts in charts/), merging values as Helm does
// (values.yaml < -f files < --set), and rendering what `helm template` prints.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "helm/functions.h"
#include "helm/template.h"

namespace skiff::helm {

struct Chart {
  std::string name;                             // Chart.yaml name
  Value metadata;                               // Chart.yaml as Helm exposes it (.Chart: Name, Version, ...)
  Value chartYaml;                              // Chart.yaml as written (Helm stores it so in a release)
  Value values;                                 // values.yaml
  std::map<std::string, std::string> templates;  // "templates/x.yaml" → text
  std::map<std::string, std::string> files;      // every other file, for .Files
  std::vector<Chart> dependencies;              // charts/*
  Value dependencyConditions;                   // Chart.yaml dependencies (condition, tags, alias)
};

// A chart directory or a .tgz archive of one (subcharts in charts/ as folders or archives).
Result<Chart> loadChart(const std::string& path);

// A .tgz chart archive already in memory (downloaded from a repository); `origin` names it in messages.
Result<Chart> loadChartArchive(std::string_view data, const std::string& origin);

// Helm's strvals: "a.b=c,list[0]=x,esc\,aped=y"; values typed (ints, bools, null) unless asString.
Status applySetValue(Value& values, std::string_view expression, bool asString);

// values.yaml merged with user values: maps merge deeply, user scalars win, null removes a key.
Value coalesceValues(const Value& chartDefaults, const Value& user);

struct ReleaseOptions {
  std::string name;
  std::string nameSpace = "default";
  int revision = 1;
  bool isUpgrade = false;
  std::string kubeVersion = "v1.20.0";  // Helm's default when no cluster is asked
  std::vector<std::string> apiVersions;
  LookupFunction lookup;                // nullptr for `helm template`
};

struct RenderedManifest {
  std::string source;   // "mychart/templates/deployment.yaml"
  std::string content;  // one YAML document, trimmed
  std::string kind;
  bool hook = false;
};

// Renders every template (partials and NOTES.txt excluded), splits on ---, drops empty documents
// and orders them as Helm's install order does; hooks come after, as `helm template` prints them.
// With `notes`, the top chart's templates/NOTES.txt is rendered into it (as install shows it).
Result<std::vector<RenderedManifest>> renderChart(const Chart& chart, const Value& userValues, const ReleaseOptions& release,
                                                  std::string* notes = nullptr);

// Integral floats as integers: JSON Schema sees 3 where Go's decoder made 3.0, and Go's encoder
// writes 3 (not 3E0) when a release is stored.
Value integralAsInt(const Value& v);

// Helm's InstallOrder and UninstallOrder of kinds (unknown kinds go last in both). GitOps applies
// in the install order within a sync wave, as Argo CD's does.
const std::vector<std::string>& installOrder();
const std::vector<std::string>& uninstallOrder();

// The text `helm template` prints for rendered manifests.
std::string formatTemplateOutput(const std::vector<RenderedManifest>& manifests);

}  // namespace skiff::helm
