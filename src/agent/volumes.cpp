#include "agent/volumes.h"

#include <fcntl.h>
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
#include "controller/workload.h"

namespace skiff::agent {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

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

// Opens subPath below the volume, making missing directories one component at a time: each
// mkdirat names a single entry of a directory already opened beneath the volume, and the next
// component is checked again from the volume's root.
Result<int> openSubPath(int volumeFd, const std::string& subPath) {
  int fd = openBeneath(volumeFd, subPath, 0);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return Error::badRequest(subPathFailure(subPath, errno));
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
      if (mkdirat(parent.fd, part.c_str(), 0755) != 0 && errno != EEXIST) return Error::internal(subPathFailure(subPath, errno));
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
Status writeKey(const std::string& dir, const std::string& relative, const std::string& data, int mode) {
  if (relative.empty() || relative.front() == '/' || relative.find("..") != std::string::npos)
    return Error::badRequest("volume item path \"" + relative + "\" must be relative and must not contain '..'");
  fs::path p = fs::path(dir) / relative;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return Error::internal("cannot write " + p.string());
  chmod(p.c_str(), mode_t(mode));
  return {};
}

// ConfigMap/Secret keys, honouring items and optional. Returns false when absent and optional.
Result<bool> writeSource(const json::value& source, const char* kind, const std::string& nameField, const std::string& ns,
                         const std::string& dir, int defaultMode, apiserver::Registry& registry) {
  std::string name = api::stringAt(source, nameField);
  bool optional = api::valueAt(source, "optional") && api::valueAt(source, "optional")->is_bool() && api::valueAt(source, "optional")->get_bool();
  auto obj = registry.get(*api::findByKind("v1", kind), ns, name);
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

Status writeDownward(const json::value& source, const json::value& pod, const std::string& dir) {
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
      if (Status s = writeKey(dir, api::stringAt(item, "path"), value, 0644); !s) return s;
    }
  return {};
}

}  // namespace

Result<std::map<std::string, PreparedVolume>> prepareVolumes(const json::value& pod, const std::string& podDir,
                                                              const std::string& claimsDir, apiserver::Registry& registry,
                                                              const TokenSource* tokens, std::vector<TokenFile>* tokenFiles) {
  std::map<std::string, PreparedVolume> out;
  const json::value* vols = api::valueAt(pod, "spec.volumes");
  if (!vols || !vols->is_array()) return out;
  std::string ns = api::stringAt(pod, "metadata.namespace");
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
        pv.tmpfsOptions = "mode=1777" + (limit > 0 ? ",size=" + std::to_string(limit) : std::string());
      } else {
        fs::create_directories(dir, ec);
        chmod(dir.c_str(), 0777);
      }
    } else if (const json::value* hp = api::valueAt(v, "hostPath")) {
      pv.hostPath = api::stringAt(*hp, "path");
      std::string type = api::stringAt(*hp, "type");
      bool exists = fs::exists(pv.hostPath, ec);
      if (type == "DirectoryOrCreate" && !exists) fs::create_directories(pv.hostPath, ec);
      else if (type == "FileOrCreate" && !exists) std::ofstream(pv.hostPath).close();
      else if ((type == "Directory" && !fs::is_directory(pv.hostPath, ec)) || (type == "File" && !fs::is_regular_file(pv.hostPath, ec)) ||
               (type == "Socket" && !fs::is_socket(pv.hostPath, ec)) || ((type == "CharDevice") && !fs::is_character_file(pv.hostPath, ec)) ||
               ((type == "BlockDevice") && !fs::is_block_file(pv.hostPath, ec)))
        return Error::badRequest("hostPath type check failed: " + pv.hostPath + " is not a " + type);
      else if (!exists)
        fs::create_directories(pv.hostPath, ec);  // no type: like Kubernetes, an empty directory is made
    } else if (const json::value* pvc = api::valueAt(v, "persistentVolumeClaim")) {
      std::string claim = api::stringAt(*pvc, "claimName");
      auto obj = registry.get(*api::findByKind("v1", "PersistentVolumeClaim"), ns, claim);
      if (!obj) return Error::notFound("persistentvolumeclaim \"" + claim + "\" not found");
      if (api::stringAt(*obj, "status.phase") != "Bound")
        return Error::unavailable("persistentvolumeclaim \"" + claim + "\" is not bound yet");
      pv.hostPath = claimsDir + "/" + api::stringAt(*obj, "spec.volumeName");
      fs::create_directories(pv.hostPath, ec);
      if (ec) return Error::internal("cannot create the volume of claim " + claim + ": " + ec.message());
      chmod(pv.hostPath.c_str(), 0777);
      const json::value* ro = api::valueAt(*pvc, "readOnly");
      pv.readOnly = ro && ro->is_bool() && ro->get_bool();
    } else if (const json::value* cm = api::valueAt(v, "configMap")) {
      fs::remove_all(dir, ec);
      fs::create_directories(dir, ec);
      auto r = writeSource(*cm, "ConfigMap", "name", ns, dir, 0644, registry);
      if (!r) return r.error();
      pv.readOnly = true;
    } else if (const json::value* sec = api::valueAt(v, "secret")) {
      fs::remove_all(dir, ec);
      fs::create_directories(dir, ec);
      auto r = writeSource(*sec, "Secret", "secretName", ns, dir, 0644, registry);
      if (!r) return r.error();
      pv.readOnly = true;
    } else if (const json::value* da = api::valueAt(v, "downwardAPI")) {
      fs::remove_all(dir, ec);
      fs::create_directories(dir, ec);
      if (Status s = writeDownward(*da, pod, dir); !s) return s.error();
      pv.readOnly = true;
    } else if (const json::value* pr = api::valueAt(v, "projected")) {
      fs::remove_all(dir, ec);
      fs::create_directories(dir, ec);
      int mode = int(controller::intAt(*pr, "defaultMode", 0644));
      if (const json::value* sources = api::valueAt(*pr, "sources"); sources && sources->is_array())
        for (const auto& s : sources->get_array()) {
          if (const json::value* c = api::valueAt(s, "configMap")) {
            auto r = writeSource(*c, "ConfigMap", "name", ns, dir, mode, registry);
            if (!r) return r.error();
          } else if (const json::value* se = api::valueAt(s, "secret")) {
            auto r = writeSource(*se, "Secret", "name", ns, dir, mode, registry);
            if (!r) return r.error();
          } else if (const json::value* d = api::valueAt(s, "downwardAPI")) {
            if (Status st = writeDownward(*d, pod, dir); !st) return st.error();
          } else if (const json::value* t = api::valueAt(s, "serviceAccountToken")) {
            if (!tokens || !tokens->issue)
              return Error::badRequest("volume \"" + name + "\": projected serviceAccountToken needs the native or oci runtime");
            std::string path = api::stringAt(*t, "path");
            if (path.empty() || path.front() == '/' || path.find("..") != std::string::npos)
              return Error::badRequest("volume \"" + name + "\": serviceAccountToken.path must be a relative path without ..");
            TokenFile f{dir + "/" + path, std::max<int64_t>(600, controller::intAt(*t, "expirationSeconds", 3600)), api::stringAt(*t, "audience"), {}};
            if (Status st = writeToken(f, *tokens); !st) return st.error();
            if (tokenFiles) tokenFiles->push_back(f);
          }
        }
      pv.readOnly = true;
    } else {
      return Error::badRequest("volume \"" + name + "\" has a type skiff does not support (emptyDir, hostPath, configMap, secret, downwardAPI, persistentVolumeClaim and projected are)");
    }
    out[name] = pv;
  }
  // The service account's token, CA and namespace, as the kubelet mounts them by default.
  const json::value* automount = api::valueAt(pod, "spec.automountServiceAccountToken");
  if (tokens && tokens->issue && !(automount && automount->is_bool() && !automount->get_bool()) && !out.count(kServiceAccountVolume)) {
    std::string dir = podDir + "/volumes/" + kServiceAccountVolume;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error::internal("cannot create " + dir + ": " + ec.message());
    TokenFile f{dir + "/token", 3600, "", {}};
    if (Status st = writeToken(f, *tokens); !st) return st.error();
    if (tokenFiles) tokenFiles->push_back(f);
    std::ofstream(dir + "/ca.crt") << tokens->caPem;
    std::ofstream(dir + "/namespace") << ns;
    PreparedVolume pv;
    pv.hostPath = dir;
    pv.readOnly = true;
    out[kServiceAccountVolume] = pv;
  }
  return out;
}

Status writeToken(TokenFile& file, const TokenSource& tokens) {
  std::string token = tokens.issue(file.seconds, file.audience);
  std::string tmp = file.path + ".tmp";
  std::error_code ec;
  fs::create_directories(fs::path(file.path).parent_path(), ec);
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << token;
    if (!out) return Error::internal("cannot write the service-account token " + tmp);
  }
  chmod(tmp.c_str(), 0644);
  if (std::rename(tmp.c_str(), file.path.c_str()) != 0) return Error::internal("cannot replace " + file.path + ": " + std::strerror(errno));
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
