#include "agent/volumes.h"

#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/object.h"
#include "api/quantity.h"
#include "common/base64.h"
#include "common/files.h"
#include "controller/workload.h"

namespace skiff::agent {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// What the kubelet's volume ownership needs from the pod, read once.
struct Ownership {
  int64_t fsGroup = -1;  // spec.securityContext.fsGroup: group of every volume file, setgid directories
  int64_t fsUser = -1;   // the runAsUser every (init) container runs as, if they agree: owns token files
  bool onRootMismatch = false;  // fsGroupChangePolicy: OnRootMismatch
};

Ownership ownershipOf(const json::value& pod) {
  Ownership o;
  o.fsGroup = controller::intAt(pod, "spec.securityContext.fsGroup", -1);
  o.onRootMismatch = api::stringAt(pod, "spec.securityContext.fsGroupChangePolicy") == "OnRootMismatch";
  // As the kubelet's FsUserFrom: every container must name a user (its own or the pod's; the
  // image's does not count), and the same one.
  int64_t podUser = controller::intAt(pod, "spec.securityContext.runAsUser", -1);
  int64_t agreed = -1;
  bool any = false;
  for (const char* list : {"spec.initContainers", "spec.containers"})
    if (const json::value* cs = api::valueAt(pod, list); cs && cs->is_array())
      for (const auto& c : cs->get_array()) {
        int64_t user = controller::intAt(c, "securityContext.runAsUser", podUser);
        if (user < 0 || (any && user != agreed)) return o;
        agreed = user;
        any = true;
      }
  o.fsUser = any ? agreed : -1;
  return o;
}

gid_t groupOf(const Ownership& o) { return o.fsGroup >= 0 ? gid_t(o.fsGroup) : gid_t(-1); }

// SetVolumeOwnership's bits: the group may read (read-only volumes) or read and write, and enter
// directories, which are setgid so new files join the group.
mode_t withGroupAccess(mode_t mode, const Ownership& o, bool readOnly, bool dir) {
  if (o.fsGroup < 0) return mode;
  mode |= readOnly ? 0440 : 0660;
  if (dir) mode |= S_ISGID | 0110;
  return mode;
}

// A directory of a read-only volume: 0755 (the kubelet's wrapper is 0777 but mounted read-only:
// nobody writes either way), group access and setgid with fsGroup.
Status makeContentDir(const std::string& path, const Ownership& o) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Error::internal("cannot create " + path + ": " + std::strerror(errno));
  if (chown(path.c_str(), uid_t(-1), groupOf(o)) != 0 || chmod(path.c_str(), withGroupAccess(0755, o, true, true)) != 0)
    return Error::internal("cannot set the owner of " + path + ": " + std::strerror(errno));
  return {};
}

// The kubelet's SetVolumeOwnership over a writable volume (emptyDir, claims): every entry joins
// fsGroup with group read/write, directories setgid. With OnRootMismatch a root that already has
// them is trusted to speak for the tree.
thread_local gid_t walkGroup;
thread_local bool walkReadOnly;
Status setVolumeOwnership(const std::string& root, const Ownership& o, bool readOnly) {
  if (o.fsGroup < 0) return {};
  struct stat st;
  if (lstat(root.c_str(), &st) != 0) return Error::internal("cannot read " + root + ": " + std::strerror(errno));
  mode_t wanted = withGroupAccess(st.st_mode & 07777, o, readOnly, true);
  if (o.onRootMismatch && st.st_gid == gid_t(o.fsGroup) && (st.st_mode & 07777) == wanted) return {};
  walkGroup = gid_t(o.fsGroup);
  walkReadOnly = readOnly;
  auto visit = [](const char* path, const struct stat* s, int, FTW*) -> int {
    if (lchown(path, uid_t(-1), walkGroup) != 0) return 0;  // keep going: one odd entry must not stop the pod
    if (S_ISLNK(s->st_mode)) return 0;
    mode_t mode = s->st_mode & 07777;
    mode |= walkReadOnly ? 0440 : 0660;
    if (S_ISDIR(s->st_mode)) mode |= S_ISGID | 0110;
    (void)chmod(path, mode);
    return 0;
  };
  if (nftw(root.c_str(), visit, 16, FTW_PHYS | FTW_MOUNT) != 0) return Error::internal("cannot set the owner of " + root + ": " + std::strerror(errno));
  return {};
}

// Where a volume's files go and how they are owned.
struct ContentTarget {
  std::string dir;
  const Ownership& owner;
};


// An fd closed when it goes out of scope.
struct OwnedFd {
  int fd = -1;
  explicit OwnedFd(int f = -1) : fd(f) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd >= 0) close(fd);
  }
};

// `path` below `dirFd` as an O_PATH fd; ".." and symlinks may not leave `dirFd` (EXDEV), and
// /proc magic links are refused. glibc 2.36 has no wrapper for openat2.
int openBeneath(int dirFd, const std::string& path, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = -1;
  // EAGAIN: a concurrent rename in the volume; a few tries, then it counts as a failure.
  for (int attempt = 0; attempt < 8; ++attempt) {
    fd = int(syscall(SYS_openat2, dirFd, path.c_str(), &how, sizeof how));
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
  return fd;
}

std::string subPathFailure(const std::string& subPath, int err) {
  if (err == EXDEV) return "subPath \"" + subPath + "\" leads outside its volume (through a symbolic link or ..); refusing to mount it";
  if (err == ELOOP) return "subPath \"" + subPath + "\" has too many levels of symbolic links";
  if (err == ENOSYS) return "subPath needs openat2 (Linux 5.6 or newer) to be resolved safely";
  return "subPath \"" + subPath + "\": " + std::strerror(err);
}

// Makes one missing subPath directory with the volume root's mode, as the kubelet does: skiff's
// umask (077) would otherwise leave it 0700 and a container running as another user could not
// use it. Only a directory made here is chmodded, through an fd that does not follow a link.
Status makeSubPathDir(int parentFd, const std::string& name, mode_t mode) {
  if (mkdirat(parentFd, name.c_str(), mode) != 0) {
    if (errno == EEXIST) return {};  // made meanwhile by another container of the pod
    return Error::internal(std::strerror(errno));
  }
  OwnedFd made(openat(parentFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (made.fd < 0 || fchmod(made.fd, mode) != 0) return Error::internal(std::strerror(errno));
  return {};
}

// Opens subPath below the volume, making missing directories one component at a time: each
// mkdirat names a single entry of a directory already opened beneath the volume, and the next
// component is checked again from the volume's root.
Result<int> openSubPath(int volumeFd, const std::string& subPath) {
  int fd = openBeneath(volumeFd, subPath, 0);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return Error::badRequest(subPathFailure(subPath, errno));
  struct stat root {};
  if (fstat(volumeFd, &root) != 0) return Error::internal(subPathFailure(subPath, errno));
  const mode_t mode = root.st_mode & 07777;
  std::vector<std::string> parts;
  std::stringstream in(subPath);
  for (std::string part; std::getline(in, part, '/');)
    if (!part.empty() && part != ".") parts.push_back(part);
  OwnedFd parent(fcntl(volumeFd, F_DUPFD_CLOEXEC, 0));
  std::string prefix;
  for (const auto& part : parts) {
    prefix += (prefix.empty() ? "" : "/") + part;
    int next = openBeneath(volumeFd, prefix, O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      if (auto made = makeSubPathDir(parent.fd, part, mode); !made.ok())
        return Error::internal("cannot create subPath \"" + subPath + "\": " + made.error().message);
      next = openBeneath(volumeFd, prefix, O_DIRECTORY);
    }
    if (next < 0) return Error::badRequest(subPathFailure(subPath, errno));
    close(parent.fd);
    parent.fd = next;
  }
  int out = parent.fd;
  parent.fd = -1;
  return out;
}

// Writes one file of a volume, refusing names that would leave the volume.
Status writeKey(const ContentTarget& to, const std::string& relative, const std::string& data, int mode) {
  if (relative.empty() || relative.front() == '/' || relative.find("..") != std::string::npos)
    return Error::badRequest("volume item path \"" + relative + "\" must be relative and must not contain '..'");
  std::string path = to.dir;
  size_t at = 0;
  for (size_t slash; (slash = relative.find('/', at)) != std::string::npos; at = slash + 1)
    if (slash > at)
      if (Status s = makeContentDir(path += "/" + relative.substr(at, slash - at), to.owner); !s) return s;
  return writeFileAtomic(to.dir + "/" + relative, data, withGroupAccess(mode_t(mode) & 07777, to.owner, true, false), uid_t(-1), groupOf(to.owner));
}

// ConfigMap/Secret keys, honouring items and optional. Returns false when absent and optional.
Result<bool> writeSource(const json::value& source, const char* kind, const std::string& nameField, const std::string& ns,
                         const ContentTarget& dir, int defaultMode, client::Client& client) {
  std::string name = api::stringAt(source, nameField);
  bool optional = api::valueAt(source, "optional") && api::valueAt(source, "optional")->is_bool() && api::valueAt(source, "optional")->get_bool();
  auto obj = client.get(*api::findByKind("v1", kind), ns, name);
  if (!obj) {
    if (optional) return false;
    return Error::notFound(std::string(kind == std::string("Secret") ? "secret" : "configmap") + " \"" + name + "\" not found");
  }
  bool secret = std::string(kind) == "Secret";
  std::map<std::string, std::string> data;
  for (const char* field : {"data", "binaryData"})
    if (const json::value* d = api::valueAt(*obj, field); d && d->is_object())
      for (const auto& kv : d->get_object())
        if (kv.value().is_string()) {
          std::string v(kv.value().get_string());
          if (secret || std::string(field) == "binaryData") v = base64Decode(v).value_or("");
          data[std::string(kv.key())] = v;
        }
  int mode = int(controller::intAt(source, "defaultMode", defaultMode));
  if (const json::value* items = api::valueAt(source, "items"); items && items->is_array() && !items->get_array().empty()) {
    for (const auto& item : items->get_array()) {
      std::string key = api::stringAt(item, "key");
      auto it = data.find(key);
      if (it == data.end()) {
        if (optional) continue;
        return Error::notFound("configmap or secret \"" + name + "\" has no key \"" + key + "\"");
      }
      if (Status s = writeKey(dir, api::stringAt(item, "path"), it->second, int(controller::intAt(item, "mode", mode))); !s) return s.error();
    }
  } else {
    for (const auto& [k, v] : data)
      if (Status s = writeKey(dir, k, v, mode); !s) return s.error();
  }
  return true;
}

Status writeDownward(const json::value& source, const json::value& pod, const ContentTarget& dir, int defaultMode) {
  if (const json::value* items = api::valueAt(source, "items"); items && items->is_array())
    for (const auto& item : items->get_array()) {
      std::string path = api::stringAt(item, "fieldRef.fieldPath");
      std::string value;
      if (path == "metadata.labels" || path == "metadata.annotations") {
        if (const json::value* m = api::valueAt(pod, path); m && m->is_object())
          for (const auto& kv : m->get_object())
            value += std::string(kv.key()) + "=\"" + (kv.value().is_string() ? std::string(kv.value().get_string()) : "") + "\"\n";
      } else if (!path.empty()) {
        value = api::stringAt(pod, path);
      } else if (const json::value* r = api::valueAt(item, "resourceFieldRef")) {
        value = api::stringAt(*r, "resource");
      }
      if (Status s = writeKey(dir, api::stringAt(item, "path"), value, int(controller::intAt(item, "mode", defaultMode))); !s) return s;
    }
  return {};
}

}  // namespace

Result<std::map<std::string, PreparedVolume>> prepareVolumes(const json::value& pod, const std::string& podDir,
                                                              const std::string& claimsDir, client::Client& client,
                                                              const TokenSource* tokens, std::vector<TokenFile>* tokenFiles) {
  std::map<std::string, PreparedVolume> out;
  const Ownership owner = ownershipOf(pod);
  std::string ns = api::stringAt(pod, "metadata.namespace");
  if (Status s = makeContentDir(podDir + "/volumes", Ownership{}); !s) return s.error();
  // A fresh read-only volume directory, written whole on every prepare.
  auto contentDir = [&](const std::string& dir) -> Result<ContentTarget> {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (Status s = makeContentDir(dir, owner); !s) return s.error();
    return ContentTarget{dir, owner};
  };
  // A token file as the kubelet writes it: 0600 (0640 with fsGroup) owned by the pods' one user
  // when it has one or an fsGroup, else the volume's defaultMode.
  auto tokenFile = [&](const ContentTarget& to, const std::string& path, int64_t seconds, const std::string& audience,
                       int defaultMode) -> Result<TokenFile> {
    if (path.empty() || path.front() == '/' || path.find("..") != std::string::npos)
      return Error::badRequest("serviceAccountToken.path must be a relative path without ..");
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      if (Status s = makeContentDir(to.dir + "/" + path.substr(0, slash), owner); !s) return s.error();
    TokenFile f{to.dir + "/" + path, seconds, audience, {}};
    bool private_ = owner.fsUser >= 0 || owner.fsGroup >= 0;
    f.mode = withGroupAccess(private_ ? 0600 : mode_t(defaultMode) & 07777, owner, true, false);
    f.uid = owner.fsUser >= 0 ? uid_t(owner.fsUser) : uid_t(-1);
    f.gid = groupOf(owner);
    if (tokens && tokens->issue)
      if (Status st = writeToken(f, *tokens); !st) return st.error();
    return f;
  };
  const json::value* vols = api::valueAt(pod, "spec.volumes");
  if (vols && vols->is_array())
  for (const auto& v : vols->get_array()) {
    std::string name = api::stringAt(v, "name");
    std::string dir = podDir + "/volumes/" + name;
    PreparedVolume pv;
    pv.hostPath = dir;
    std::error_code ec;
    if (const json::value* ed = api::valueAt(v, "emptyDir")) {
      if (api::stringAt(*ed, "medium") == "Memory") {
        pv.tmpfs = true;
        pv.hostPath.clear();
        int64_t limit = api::quantityMilli(api::valueAt(*ed, "sizeLimit")) / 1000;
        pv.tmpfsOptions = owner.fsGroup >= 0 ? "mode=3777,gid=" + std::to_string(owner.fsGroup) : "mode=1777";
        if (limit > 0) pv.tmpfsOptions += ",size=" + std::to_string(limit);
      } else {
        // The kubelet's emptyDir: 0777 (its empty_dir.go), then fsGroup ownership. Other host
        // users never reach it: the pods' tree is under the 0700 data dir.
        if (mkdir(dir.c_str(), 0777) == 0) chmod(dir.c_str(), 0777);
        else if (errno != EEXIST) return Error::internal("cannot create the emptyDir " + dir + ": " + std::strerror(errno));
        if (Status s = setVolumeOwnership(dir, owner, false); !s) return s.error();
      }
    } else if (const json::value* hp = api::valueAt(v, "hostPath")) {
      // hostPath volumes are the host's: no ownership change, as in Kubernetes.
      pv.hostPath = api::stringAt(*hp, "path");
      std::string type = api::stringAt(*hp, "type");
      bool exists = fs::exists(pv.hostPath, ec);
      // Made as the kubelet makes them (0755 directories, 0644 files), whatever skiff's umask.
      if (type == "DirectoryOrCreate" && !exists) {
        fs::create_directories(pv.hostPath, ec);
        chmod(pv.hostPath.c_str(), 0755);
      } else if (type == "FileOrCreate" && !exists) {
        int fd = open(pv.hostPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) (void)fchmod(fd, 0644), close(fd);
      }
      else if ((type == "Directory" && !fs::is_directory(pv.hostPath, ec)) || (type == "File" && !fs::is_regular_file(pv.hostPath, ec)) ||
               (type == "Socket" && !fs::is_socket(pv.hostPath, ec)) || ((type == "CharDevice") && !fs::is_character_file(pv.hostPath, ec)) ||
               ((type == "BlockDevice") && !fs::is_block_file(pv.hostPath, ec)))
        return Error::badRequest("hostPath type check failed: " + pv.hostPath + " is not a " + type);
      else if (!exists) {
        fs::create_directories(pv.hostPath, ec);  // no type: like Kubernetes, an empty directory is made
        chmod(pv.hostPath.c_str(), 0755);
      }
    } else if (const json::value* pvc = api::valueAt(v, "persistentVolumeClaim")) {
      std::string claim = api::stringAt(*pvc, "claimName");
      auto obj = client.get(*api::findByKind("v1", "PersistentVolumeClaim"), ns, claim);
      if (!obj) return Error::notFound("persistentvolumeclaim \"" + claim + "\" not found");
      if (api::stringAt(*obj, "status.phase") != "Bound")
        return Error::unavailable("persistentvolumeclaim \"" + claim + "\" is not bound yet");
      pv.hostPath = claimsDir + "/" + api::stringAt(*obj, "spec.volumeName");
      const json::value* ro = api::valueAt(*pvc, "readOnly");
      pv.readOnly = ro && ro->is_bool() && ro->get_bool();
      // Provisioned once as local-path-provisioner does (0777); later modes are the pods' own.
      fs::create_directories(claimsDir, ec);
      if (mkdir(pv.hostPath.c_str(), 0777) == 0) chmod(pv.hostPath.c_str(), 0777);
      else if (errno != EEXIST) return Error::internal("cannot create the volume of claim " + claim + ": " + std::strerror(errno));
      if (Status s = setVolumeOwnership(pv.hostPath, owner, pv.readOnly); !s) return s.error();
    } else if (const json::value* cm = api::valueAt(v, "configMap")) {
      auto to = contentDir(dir);
      if (!to) return to.error();
      auto r = writeSource(*cm, "ConfigMap", "name", ns, *to, int(controller::intAt(*cm, "defaultMode", 0644)), client);
      if (!r) return r.error();
      pv.readOnly = true;
    } else if (const json::value* sec = api::valueAt(v, "secret")) {
      auto to = contentDir(dir);
      if (!to) return to.error();
      auto r = writeSource(*sec, "Secret", "secretName", ns, *to, int(controller::intAt(*sec, "defaultMode", 0644)), client);
      if (!r) return r.error();
      pv.readOnly = true;
    } else if (const json::value* da = api::valueAt(v, "downwardAPI")) {
      auto to = contentDir(dir);
      if (!to) return to.error();
      if (Status s = writeDownward(*da, pod, *to, int(controller::intAt(*da, "defaultMode", 0644))); !s) return s.error();
      pv.readOnly = true;
    } else if (const json::value* pr = api::valueAt(v, "projected")) {
      auto to = contentDir(dir);
      if (!to) return to.error();
      int mode = int(controller::intAt(*pr, "defaultMode", 0644));
      if (const json::value* sources = api::valueAt(*pr, "sources"); sources && sources->is_array())
        for (const auto& s : sources->get_array()) {
          if (const json::value* c = api::valueAt(s, "configMap")) {
            auto r = writeSource(*c, "ConfigMap", "name", ns, *to, mode, client);
            if (!r) return r.error();
          } else if (const json::value* se = api::valueAt(s, "secret")) {
            auto r = writeSource(*se, "Secret", "name", ns, *to, mode, client);
            if (!r) return r.error();
          } else if (const json::value* d = api::valueAt(s, "downwardAPI")) {
            if (Status st = writeDownward(*d, pod, *to, mode); !st) return st.error();
          } else if (const json::value* t = api::valueAt(s, "serviceAccountToken")) {
            if (!tokens || !tokens->issue)
              return Error::badRequest("volume \"" + name + "\": projected serviceAccountToken needs the native or oci runtime");
            auto f = tokenFile(*to, api::stringAt(*t, "path"), std::max<int64_t>(600, controller::intAt(*t, "expirationSeconds", 3600)),
                               api::stringAt(*t, "audience"), mode);
            if (!f) return Error::badRequest("volume \"" + name + "\": " + f.error().message);
            if (tokenFiles) tokenFiles->push_back(*f);
          }
        }
      pv.readOnly = true;
    } else {
      return Error::badRequest("volume \"" + name + "\" has a type skiff does not support (emptyDir, hostPath, configMap, secret, downwardAPI, persistentVolumeClaim and projected are)");
    }
    out[name] = pv;
  }
  // The service account's token, CA and namespace, as the kubelet mounts them by default (a
  // projected volume with defaultMode 0644).
  const json::value* automount = api::valueAt(pod, "spec.automountServiceAccountToken");
  if (tokens && tokens->issue && !(automount && automount->is_bool() && !automount->get_bool()) && !out.count(kServiceAccountVolume)) {
    auto to = contentDir(podDir + "/volumes/" + kServiceAccountVolume);
    if (!to) return to.error();
    auto f = tokenFile(*to, "token", 3600, "", 0644);
    if (!f) return f.error();
    if (tokenFiles) tokenFiles->push_back(*f);
    if (Status st = writeKey(*to, "ca.crt", tokens->caPem, 0644); !st) return st.error();
    if (Status st = writeKey(*to, "namespace", ns, 0644); !st) return st.error();
    PreparedVolume pv;
    pv.hostPath = to->dir;
    pv.readOnly = true;
    out[kServiceAccountVolume] = pv;
  }
  return out;
}

Status writeToken(TokenFile& file, const TokenSource& tokens) {
  std::string token = tokens.issue(file.seconds, file.audience);
  if (Status st = writeFileAtomic(file.path, token, file.mode, file.uid, file.gid); !st)
    return Error::internal("cannot write the service-account token: " + st.error().message);
  file.issued = std::chrono::steady_clock::now();
  return {};
}

Status bindSubPath(const std::string& volumeDir, const std::string& subPath, const std::string& mountPoint) {
  OwnedFd volume(open(volumeDir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (volume.fd < 0) return Error::internal("cannot open volume " + volumeDir + ": " + std::strerror(errno));
  auto opened = openSubPath(volume.fd, subPath);
  if (!opened) return opened.error();
  OwnedFd target(*opened);
  struct stat st;
  if (fstat(target.fd, &st) != 0) return Error::internal("cannot stat subPath \"" + subPath + "\": " + std::strerror(errno));
  // A previous attempt of the container may have left its bind here.
  for (int i = 0; i < 8 && umount2(mountPoint.c_str(), MNT_DETACH) == 0; ++i) {
  }
  std::error_code ec;
  fs::remove(mountPoint, ec);
  fs::create_directories(fs::path(mountPoint).parent_path(), ec);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(mountPoint.c_str(), 0700) != 0) return Error::internal("cannot create " + mountPoint + ": " + std::strerror(errno));
  } else {
    int fd = open(mountPoint.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Error::internal("cannot create " + mountPoint + ": " + std::strerror(errno));
    close(fd);
  }
  std::string viaFd = "/proc/self/fd/" + std::to_string(target.fd);
  if (mount(viaFd.c_str(), mountPoint.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return Error::internal("cannot bind subPath \"" + subPath + "\": " + std::strerror(errno));
  return {};
}

void unmountSubPaths(const std::string& podDir) {
  std::string under = subPathDirOf(podDir, "");
  std::vector<std::string> points;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (!(fields >> id >> parent >> dev >> root >> point)) continue;
    if (point.starts_with(under)) points.push_back(point);  // skiff's own names: no octal escapes
  }
  std::sort(points.rbegin(), points.rend());
  for (const auto& p : points) umount2(p.c_str(), MNT_DETACH);
}

Result<std::vector<runtime::MountSpec>> mountsFor(const json::value& container, const std::map<std::string, PreparedVolume>& volumes,
                                                  const std::string& subPathDir) {
  std::vector<runtime::MountSpec> out;
  const json::value* vms = api::valueAt(container, "volumeMounts");
  // The automounted service-account volume, unless the container mounts something there itself.
  if (auto sa = volumes.find(kServiceAccountVolume); sa != volumes.end()) {
    bool taken = false;
    if (vms && vms->is_array())
      for (const auto& vm : vms->get_array()) taken = taken || api::stringAt(vm, "mountPath") == kServiceAccountMountPath;
    if (!taken) {
      runtime::MountSpec m;
      m.target = kServiceAccountMountPath;
      m.source = sa->second.hostPath;
      m.readOnly = true;
      out.push_back(m);
    }
  }
  if (!vms || !vms->is_array()) return out;
  size_t index = 0;
  for (const auto& vm : vms->get_array()) {
    ++index;
    std::string name = api::stringAt(vm, "name");
    auto it = volumes.find(name);
    if (it == volumes.end()) return Error::badRequest("volumeMount \"" + name + "\" names no volume of the pod");
    runtime::MountSpec m;
    m.target = api::stringAt(vm, "mountPath");
    const json::value* ro = api::valueAt(vm, "readOnly");
    m.readOnly = it->second.readOnly || (ro && ro->is_bool() && ro->get_bool());
    m.tmpfs = it->second.tmpfs;
    m.tmpfsOptions = it->second.tmpfsOptions;
    m.source = it->second.hostPath;
    std::string sub = api::stringAt(vm, "subPath");
    if (!sub.empty()) {
      if (sub.front() == '/' || sub.find("..") != std::string::npos)
        return Error::badRequest("volumeMount \"" + name + "\": subPath must be relative and must not contain '..'");
      if (m.tmpfs) return Error::badRequest("volumeMount \"" + name + "\": subPath of a memory-backed emptyDir is not supported");
      // As the kubelet: volume-subpaths/<container>/<index of the volumeMount>.
      std::string point = subPathDir + "/" + std::to_string(index - 1);
      if (Status s = bindSubPath(m.source, sub, point); !s)
        return Error::badRequest("failed to prepare subPath for volumeMount \"" + name + "\" of container \"" +
                                 api::stringAt(container, "name") + "\": " + s.error().message);
      m.source = point;
    }
    out.push_back(m);
  }
  return out;
}

}  // namespace skiff::agent
