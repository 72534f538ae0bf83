#include "apiserver/custom_resources.h"

#include <algorithm>
#include <regex>

namespace skiff::apiserver {
namespace {

// Kubernetes' version priority: GA before beta before alpha, higher numbers first, then the
// rest by name (the first served is the group's preferred version).
bool higherPriority(const std::string& a, const std::string& b) {
  static const std::regex kVersion("^v([0-9]+)(?:(alpha|beta)([0-9]+))?$");
  std::smatch ma, mb;
  bool ka = std::regex_match(a, ma, kVersion), kb = std::regex_match(b, mb, kVersion);
  if (ka != kb) return ka;
  if (!ka) return a < b;
  auto stage = [](const std::smatch& m) { return m[2] == "" ? 2 : m[2] == "beta" ? 1 : 0; };
  if (stage(ma) != stage(mb)) return stage(ma) > stage(mb);
  if (std::stoll(ma[1]) != std::stoll(mb[1])) return std::stoll(ma[1]) > std::stoll(mb[1]);
  return ma[3] != "" && mb[3] != "" && std::stoll(ma[3]) > std::stoll(mb[3]);
}

}  // namespace

const api::ResourceType* CustomResources::findByPlural(std::string_view group, std::string_view version, std::string_view plural) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, p] : byDefinition_)
    for (const api::ResourceType* t : p.served)
      if (t->group == group && t->version == version && t->plural == plural) return t;
  return nullptr;
}

std::vector<const api::ResourceType*> CustomResources::served() const {
  std::lock_guard lock(mutex_);
  std::vector<const api::ResourceType*> out;
  for (const auto& [name, p] : byDefinition_) out.insert(out.end(), p.served.begin(), p.served.end());
  return out;
}

std::string CustomResources::conflictWith(const std::string& definition, const std::string& group, const std::string& plural,
                                          const std::string& singular, const std::string& kind) const {
  auto clashes = [&](const api::ResourceType& t) {
    return t.group == group && (t.plural == plural || t.kind == kind || t.singular == singular || t.plural == singular || t.singular == plural);
  };
  for (const auto& t : api::builtinResources())
    if (clashes(t)) return "the built-in " + t.plural + (t.group.empty() ? "" : "." + t.group);
  std::lock_guard lock(mutex_);
  for (const auto& [name, p] : byDefinition_)
    if (name != definition && p.storage && clashes(*p.storage)) return name;
  return "";
}

void CustomResources::publish(const std::string& definition, int64_t generation, std::vector<api::ResourceType> versions,
                              const std::vector<bool>& served, size_t storage) {
  std::lock_guard lock(mutex_);
  Published p;
  p.generation = generation;
  size_t first = kept_.size();
  for (auto& v : versions) kept_.push_back(std::move(v));
  p.storage = &kept_[first + storage];
  for (size_t i = 0; i < versions.size(); ++i) {
    api::ResourceType& t = kept_[first + i];
    if (i != storage && t.custom) {
      auto custom = std::make_shared<api::CustomKind>(*t.custom);
      custom->storedAs = p.storage;
      t.custom = std::move(custom);
    }
    if (i < served.size() && served[i]) p.served.push_back(&t);
  }
  std::stable_sort(p.served.begin(), p.served.end(),
                   [](const api::ResourceType* a, const api::ResourceType* b) { return higherPriority(a->version, b->version); });
  byDefinition_[definition] = std::move(p);
}

int64_t CustomResources::publishedGeneration(const std::string& definition) const {
  std::lock_guard lock(mutex_);
  auto it = byDefinition_.find(definition);
  return it == byDefinition_.end() ? 0 : it->second.generation;
}

void CustomResources::withdraw(const std::string& definition) {
  std::lock_guard lock(mutex_);
  if (auto it = byDefinition_.find(definition); it != byDefinition_.end()) byDefinition_.erase(it);
}

void CustomResources::setTerminating(const std::string& definition) {
  std::lock_guard lock(mutex_);
  if (auto it = byDefinition_.find(definition); it != byDefinition_.end()) it->second.terminating = true;
}

bool CustomResources::terminating(std::string_view definition) const {
  std::lock_guard lock(mutex_);
  auto it = byDefinition_.find(definition);
  return it != byDefinition_.end() && it->second.terminating;
}

const api::ResourceType* CustomResources::storageType(const std::string& definition) const {
  std::lock_guard lock(mutex_);
  auto it = byDefinition_.find(definition);
  return it == byDefinition_.end() ? nullptr : it->second.storage;
}

std::vector<const api::ResourceType*> servedResourceTypes(const CustomResources* custom) {
  std::vector<const api::ResourceType*> out;
  for (const auto& t : api::builtinResources()) out.push_back(&t);
  if (custom)
    for (const api::ResourceType* t : custom->served()) out.push_back(t);
  return out;
}

std::vector<api::GroupVersion> servedGroupVersions(const CustomResources* custom) {
  std::vector<api::GroupVersion> out;
  for (const api::ResourceType* t : servedResourceTypes(custom))
    if (std::none_of(out.begin(), out.end(), [&](const api::GroupVersion& gv) { return gv.group == t->group && gv.version == t->version; }))
      out.push_back({t->group, t->version});
  return out;
}

}  // namespace skiff::apiserver
