#include "gitops/repository_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstring>
#include <fstream>

namespace skiff::gitops {
namespace fs = std::filesystem;
namespace {

// A checkout bigger than this is refused: a repository is untrusted input.
constexpr uint64_t kMaxCheckoutBytes = 512ull << 20;
constexpr size_t kMaxCheckoutEntries = 200000;

std::string lastGitError(const std::string& what) {
  const git_error* e = git_error_last();
  return what + ": " + (e && e->message ? e->message : "unknown libgit2 error");
}

std::string hashName(const std::string& url) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(url.data()), url.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 12; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Owners of libgit2 handles.
template <typename T, void (*Free)(T*)>
struct Handle {
  T* ptr = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (ptr) Free(ptr);
  }
  T** out() { return &ptr; }
  T* get() const { return ptr; }
};
using RepositoryHandle = Handle<git_repository, git_repository_free>;
using RemoteHandle = Handle<git_remote, git_remote_free>;
using ObjectHandle = Handle<git_object, git_object_free>;
using CommitHandle = Handle<git_commit, git_commit_free>;
using TreeHandle = Handle<git_tree, git_tree_free>;
using BlobHandle = Handle<git_blob, git_blob_free>;
using ReferenceHandle = Handle<git_reference, git_reference_free>;

struct CredentialPayload {
  const Credentials* credentials;
  int attempts = 0;
};

int supplyCredentials(git_credential** out, const char* /*url*/, const char* usernameFromUrl, unsigned int allowed, void* payload) {
  auto* p = static_cast<CredentialPayload*>(payload);
  if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) || p->credentials->password.empty()) {
    git_error_set_str(GIT_ERROR_NET, "the server asks for credentials and no repository Secret (label argocd.argoproj.io/secret-type: repository) "
                                     "gives a password or token for this URL");
    return GIT_EUSER;
  }
  // libgit2 asks again after a refusal; a second ask means the credentials are wrong.
  if (p->attempts++ > 0) {
    git_error_set_str(GIT_ERROR_NET, "the server refused the credentials from the repository Secret");
    return GIT_EUSER;
  }
  std::string user = !p->credentials->username.empty() ? p->credentials->username : usernameFromUrl ? usernameFromUrl : "git";
  return git_credential_userpass_plaintext_new(out, user.c_str(), p->credentials->password.c_str());
}

Status writeFile(const fs::path& path, const git_blob* blob, bool executable) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, executable ? 0700 : 0600);
  if (fd < 0) return Error::unavailable("cannot write " + path.string() + ": " + std::strerror(errno));
  const char* data = static_cast<const char*>(git_blob_rawcontent(blob));
  size_t left = size_t(git_blob_rawsize(blob));
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Error::unavailable("cannot write " + path.string() + ": " + std::strerror(errno));
    }
    data += n;
    left -= size_t(n);
  }
  ::close(fd);
  return {};
}

struct CheckoutBudget {
  uint64_t bytes = 0;
  size_t entries = 0;
};

Status writeTree(git_repository* repo, const git_tree* tree, const fs::path& dest, CheckoutBudget& budget) {
  size_t count = git_tree_entrycount(tree);
  for (size_t i = 0; i < count; ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
    if (++budget.entries > kMaxCheckoutEntries) return Error::invalid("the repository has more than 200000 files; skiff does not check out trees that big");
    std::string name = git_tree_entry_name(entry);
    // libgit2 refuses such names in trees it reads; checked again because a path escape would be costly.
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) continue;
    git_filemode_t mode = git_tree_entry_filemode(entry);
    fs::path target = dest / name;
    if (mode == GIT_FILEMODE_TREE) {
      TreeHandle sub;
      if (git_tree_lookup(sub.out(), repo, git_tree_entry_id(entry)) != 0) return Error::internal(lastGitError("reading tree " + name));
      std::error_code ec;
      fs::create_directory(target, ec);
      if (ec) return Error::unavailable("cannot create " + target.string() + ": " + ec.message());
      if (Status s = writeTree(repo, sub.get(), target, budget); !s) return s;
    } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
      BlobHandle blob;
      if (git_blob_lookup(blob.out(), repo, git_tree_entry_id(entry)) != 0) return Error::internal(lastGitError("reading " + name));
      budget.bytes += uint64_t(git_blob_rawsize(blob.get()));
      if (budget.bytes > kMaxCheckoutBytes) return Error::invalid("the repository's files exceed 512 MiB; skiff does not check out trees that big");
      if (Status s = writeFile(target, blob.get(), mode == GIT_FILEMODE_BLOB_EXECUTABLE); !s) return s;
    }
    // Symbolic links and submodules are skipped.
  }
  return {};
}

bool isHex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

struct RepositoryCache::Repository {
  std::mutex mutex;
  fs::path path;
  RepositoryHandle repo;
  bool fetched = false;
  Clock::time_point lastFetch{};  // start of the last successful fetch
  std::string defaultBranch;      // the remote's HEAD, e.g. "main"
};

Result<std::unique_ptr<RepositoryCache>> RepositoryCache::open(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::unavailable("cannot create the Git cache " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  git_libgit2_init();
  return std::unique_ptr<RepositoryCache>(new RepositoryCache(dir));
}

RepositoryCache::RepositoryCache(fs::path dir) : dir_(std::move(dir)) {}

RepositoryCache::~RepositoryCache() {
  repositories_.clear();
  git_libgit2_shutdown();
}

RepositoryCache::Repository& RepositoryCache::repository(const std::string& url) {
  std::lock_guard lock(mutex_);
  auto& slot = repositories_[url];
  if (!slot) {
    slot = std::make_unique<Repository>();
    slot->path = dir_ / hashName(url);
  }
  return *slot;
}

RepositoryCache::Clock::time_point RepositoryCache::lastFetch(const std::string& url) {
  Repository& r = repository(url);
  std::lock_guard lock(r.mutex);
  return r.lastFetch;
}

Status RepositoryCache::fetch(Repository& r, const std::string& url, const Credentials& credentials) {
  if (!r.repo.get()) {
    if (git_repository_open_bare(r.repo.out(), r.path.c_str()) != 0) {
      if (git_repository_init(r.repo.out(), r.path.c_str(), 1) != 0) return Error::unavailable(lastGitError("cannot create the cache for " + url));
      ::chmod(r.path.c_str(), 0700);
    }
  }
  RemoteHandle remote;
  if (git_remote_create_anonymous(remote.out(), r.repo.get(), url.c_str()) != 0) return Error::invalid(lastGitError("repository URL " + url));
  CredentialPayload payload{&credentials};
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  callbacks.credentials = supplyCredentials;
  callbacks.payload = &payload;
  if (git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr) != 0)
    return Error::unavailable(lastGitError("cannot reach " + url));
  git_buf head = GIT_BUF_INIT;
  if (git_remote_default_branch(&head, remote.get()) == 0) {
    std::string ref(head.ptr, head.size);
    r.defaultBranch = ref.starts_with("refs/heads/") ? ref.substr(11) : ref;
  }
  git_buf_dispose(&head);
  const char* specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
  git_strarray refspecs{const_cast<char**>(specs), 2};
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.callbacks = callbacks;
  options.prune = GIT_FETCH_PRUNE;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  if (git_remote_download(remote.get(), &refspecs, &options) != 0) return Error::unavailable(lastGitError("cannot fetch " + url));
  if (git_remote_update_tips(remote.get(), &callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_ALL, "skiff fetch") != 0)
    return Error::unavailable(lastGitError("cannot update the branches of " + url));
  if (git_remote_prune(remote.get(), &callbacks) != 0) return Error::unavailable(lastGitError("cannot prune the branches of " + url));
  git_remote_disconnect(remote.get());
  return {};
}

Result<std::string> RepositoryCache::resolve(const std::string& url, const std::string& revision, const Credentials& credentials,
                                             Clock::time_point freshAfter) {
  Repository& r = repository(url);
  std::lock_guard lock(r.mutex);
  if (!r.fetched || r.lastFetch < freshAfter) {
    auto started = Clock::now();
    if (Status s = fetch(r, url, credentials); !s) return s.error();
    r.fetched = true;
    r.lastFetch = started;
  }
  std::vector<std::string> candidates;
  std::string rev = revision.empty() ? "HEAD" : revision;
  if (rev == "HEAD") {
    if (r.defaultBranch.empty()) return Error::notFound(url + " has no default branch (HEAD): name a branch, tag or commit in targetRevision");
    candidates.push_back("refs/remotes/origin/" + r.defaultBranch);
  } else {
    std::string branch = rev.starts_with("refs/heads/") ? rev.substr(11) : rev;
    candidates.push_back("refs/remotes/origin/" + branch);
    candidates.push_back(rev.starts_with("refs/tags/") ? rev : "refs/tags/" + rev);
  }
  for (const auto& name : candidates) {
    ReferenceHandle ref;
    if (git_reference_lookup(ref.out(), r.repo.get(), name.c_str()) != 0) continue;
    ObjectHandle commit;
    if (git_reference_peel(commit.out(), ref.get(), GIT_OBJECT_COMMIT) != 0) return Error::invalid(lastGitError(name + " in " + url + " is not a commit"));
    char id[GIT_OID_HEXSZ + 1] = {0};
    git_oid_tostr(id, sizeof id, git_object_id(commit.get()));
    return std::string(id);
  }
  if (isHex(rev) && rev.size() >= 4 && rev.size() <= GIT_OID_HEXSZ) {
    ObjectHandle object;
    if (git_revparse_single(object.out(), r.repo.get(), rev.c_str()) == 0) {
      ObjectHandle commit;
      if (git_object_peel(commit.out(), object.get(), GIT_OBJECT_COMMIT) == 0) {
        char id[GIT_OID_HEXSZ + 1] = {0};
        git_oid_tostr(id, sizeof id, git_object_id(commit.get()));
        return std::string(id);
      }
    }
  }
  return Error::notFound("unable to resolve '" + rev + "' to a commit SHA: " + url + " has no branch, tag or commit of that name");
}

Status RepositoryCache::checkout(const std::string& url, const std::string& commitId, const fs::path& dest) {
  Repository& r = repository(url);
  std::lock_guard lock(r.mutex);
  if (!r.repo.get()) return Error::notFound(url + " has not been fetched");
  git_oid oid;
  if (git_oid_fromstr(&oid, commitId.c_str()) != 0) return Error::invalid("not a commit id: " + commitId);
  CommitHandle commit;
  if (git_commit_lookup(commit.out(), r.repo.get(), &oid) != 0) return Error::notFound(lastGitError("commit " + commitId + " of " + url));
  TreeHandle tree;
  if (git_commit_tree(tree.out(), commit.get()) != 0) return Error::internal(lastGitError("tree of " + commitId));
  CheckoutBudget budget;
  return writeTree(r.repo.get(), tree.get(), dest, budget);
}

}  // namespace skiff::gitops
