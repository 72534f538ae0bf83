// CustomResources: the kinds CustomResourceDefinitions add, served next to the built-in ones.
//
// The definitions controller (controller/crd_controller.h) publishes a definition's kinds once it
// is accepted and withdraws them when it goes; the API server looks paths and discovery up here
// after the built-in table.
//
// Threading: publish/withdraw from the controller's worker, lookups from any request thread.
// A published ResourceType is never freed (a changed definition publishes new ones), so the
// pointer a request or a watch holds stays valid; definitions change rarely.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::apiserver {

class CustomResources {
 public:
  // A served version of a custom kind; nullptr when no accepted definition serves it.
  const api::ResourceType* findByPlural(std::string_view group, std::string_view version, std::string_view plural) const;
  // Every served version of every published definition, in definition-name order.
  std::vector<const api::ResourceType*> served() const;
  // The definition that would clash with `definition` in `group` (plural, kind or singular
  // already taken by a built-in kind or another published definition), "" when none.
  std::string conflictWith(const std::string& definition, const std::string& group, const std::string& plural,
                           const std::string& singular, const std::string& kind) const;
  // Serves `versions` for `definition` (replacing what it served); `served[i]` says whether
  // version i is served (unserved ones are kept as storage targets). Each version's
  // CustomKind::storedAs is set to the storage version's type.
  void publish(const std::string& definition, int64_t generation, std::vector<api::ResourceType> versions,
               const std::vector<bool>& served, size_t storage);
  // The metadata.generation last published for `definition`, 0 when none is.
  int64_t publishedGeneration(const std::string& definition) const;
  void withdraw(const std::string& definition);
  // A definition being deleted: its kind is still served (reads, deletes) but takes no new objects.
  void setTerminating(const std::string& definition);
  bool terminating(std::string_view definition) const;
  // The storage version's type of a published definition (for cleaning its objects up), or nullptr.
  const api::ResourceType* storageType(const std::string& definition) const;

 private:
  struct Published {
    std::vector<const api::ResourceType*> served;
    const api::ResourceType* storage = nullptr;
    int64_t generation = 0;
    bool terminating = false;
  };
  mutable std::mutex mutex_;
  std::deque<api::ResourceType> kept_;  // every type ever published (stable addresses)
  std::map<std::string, Published, std::less<>> byDefinition_;
};

// Every served kind: the built-in table, then the custom kinds `custom` serves (null = none).
std::vector<const api::ResourceType*> servedResourceTypes(const CustomResources* custom);
// Every group/version served, core first, in the order of servedResourceTypes.
std::vector<api::GroupVersion> servedGroupVersions(const CustomResources* custom);

}  // namespace skiff::apiserver
