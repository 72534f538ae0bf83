// Releases kept as Helm's Secret storage driver keeps them: one Secret per revision, named
// sh.helm.release.v1.<name>.v<revision>, of type helm.sh/release.v1, in the release's namespace,
// labelled name/owner=helm/status/version (plus createdAt on create and modifiedAt on update),
// data.release = base64(gzip(JSON)). A real helm client lists and reads these Secrets.
#pragma once
#include <string>
#include <vector>

#include "client/client.h"
#include "helm/release.h"

namespace skiff::helm {

class ReleaseStorage {
 public:
  explicit ReleaseStorage(client::Client& client);

  // Every revision of a release, oldest first; empty when the release does not exist.
  Result<std::vector<Release>> history(const std::string& ns, const std::string& name);
  // The newest revision of every release in `ns` ("" = all namespaces).
  Result<std::vector<Release>> latestOfEach(const std::string& ns);
  Status create(const Release& release);
  Status update(const Release& release);
  Status remove(const std::string& ns, const std::string& name, int version);
  // Deletes the oldest revisions beyond `max` (0 = keep all), never the newest deployed one,
  // as Helm's --history-max does.
  Status prune(const std::string& ns, const std::string& name, int max);

 private:
  Result<std::vector<Release>> query(const std::string& ns, const std::string& selector);
  client::Client& client_;
};

// The Secret that stores a revision (what create/update write), exposed for tests.
boost::json::value releaseSecret(const Release& release, const std::string& timeLabel, int64_t unixSeconds);

}  // namespace skiff::helm
