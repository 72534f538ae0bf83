#include "runtime/native/rootfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace skiff::runtime {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

bool allDigits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

Result<std::string> resolveInRoot(const std::string& root, const std::string& path) {
  std::vector<std::string> pending;
  for (auto& c : split(path, '/'))
    if (!c.empty() && c != ".") pending.push_back(c);
  std::reverse(pending.begin(), pending.end());
  std::vector<std::string> done;
  int links = 0;
  while (!pending.empty()) {
    std::string c = pending.back();
    pending.pop_back();
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string here = root;
    for (const auto& d : done) here += "/" + d;
    here += "/" + c;
    struct stat st;
    if (lstat(here.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++links > 40) return Error::badRequest("too many levels of symbolic links resolving " + path);
      char target[4096];
      ssize_t n = readlink(here.c_str(), target, sizeof target - 1);
      if (n < 0) return Error::internal("readlink " + here);
      target[n] = 0;
      std::string t(target);
      if (!t.empty() && t[0] == '/') done.clear();
      auto parts = split(t, '/');
      for (auto it = parts.rbegin(); it != parts.rend(); ++it)
        if (!it->empty() && *it != ".") pending.push_back(*it);
      continue;
    }
    done.push_back(c);
  }
  std::string out = root;
  for (const auto& d : done) out += "/" + d;
  return out;
}

Result<std::string> makeInRoot(const std::string& root, const std::string& path, bool file) {
  auto full = resolveInRoot(root, path);
  if (!full) return full;
  // Everything after `root` is free of links now; create the missing parts.
  std::string rel = full->substr(root.size());
  auto parts = split(rel, '/');
  std::string cur = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    cur += "/" + parts[i];
    bool last = i + 1 == parts.size();
    struct stat st;
    if (lstat(cur.c_str(), &st) == 0) continue;
    if (last && file) {
      int fd = open(cur.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) return Error::internal("cannot create mount point " + path + " in the container: " + std::strerror(errno));
      (void)fchmod(fd, 0644);  // skiff's umask is 077; the container's users must pass
      close(fd);
    } else if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error::internal("cannot create mount point " + path + " in the container: " + std::strerror(errno));
    } else {
      (void)chmod(cur.c_str(), 0755);
    }
  }
  return *full;
}

Result<ResolvedUser> resolveUser(const std::string& root, const std::string& user) {
  ResolvedUser out;
  if (user.empty()) return out;
  auto colon = user.find(':');
  std::string name = user.substr(0, colon);
  std::string group = colon == std::string::npos ? "" : user.substr(colon + 1);
  bool found = false;
  std::string userName;
  auto passwd = resolveInRoot(root, "/etc/passwd");
  if (passwd) {
    std::ifstream in(*passwd);
    for (std::string line; std::getline(in, line);) {
      auto f = split(line, ':');
      if (f.size() < 4) continue;
      if (f[0] == name || (allDigits(name) && f[2] == name)) {
        out.uid = uint32_t(std::stoul(f[2]));
        out.gid = allDigits(f[3]) ? uint32_t(std::stoul(f[3])) : 0;
        if (f.size() > 5) out.home = f[5];
        userName = f[0];
        found = true;
        break;
      }
    }
  }
  if (!found) {
    if (!allDigits(name)) return Error::badRequest("unable to find user " + name + ": no matching entries in passwd file");
    out.uid = uint32_t(std::stoul(name));
    out.gid = out.uid == 0 ? 0 : out.uid;
  }
  auto groupFile = resolveInRoot(root, "/etc/group");
  if (!group.empty()) {
    bool gfound = allDigits(group);
    if (gfound) out.gid = uint32_t(std::stoul(group));
    else if (groupFile) {
      std::ifstream in(*groupFile);
      for (std::string line; std::getline(in, line);) {
        auto f = split(line, ':');
        if (f.size() >= 3 && f[0] == group && allDigits(f[2])) {
          out.gid = uint32_t(std::stoul(f[2]));
          gfound = true;
        }
      }
    }
    if (!gfound) return Error::badRequest("unable to find group " + group + ": no matching entries in group file");
  }
  if (!userName.empty() && groupFile) {
    std::ifstream in(*groupFile);
    for (std::string line; std::getline(in, line);) {
      auto f = split(line, ':');
      if (f.size() < 4 || !allDigits(f[2])) continue;
      for (const auto& m : split(f[3], ','))
        if (m == userName) out.groups.push_back(uint32_t(std::stoul(f[2])));
    }
  }
  return out;
}

Status mountOverlayRoot(const std::vector<std::string>& layers, const std::string& bundleDir, const std::string& image, bool nodev) {
  namespace fs = std::filesystem;
  if (layers.empty()) return Error::badRequest("image " + image + " has no layers to run");
  std::error_code ec;
  removeOverlayRoot(bundleDir);
  for (const char* sub : {"/upper", "/work", "/rootfs"}) fs::create_directories(bundleDir + sub, ec);
  if (ec) return Error::internal("cannot create " + bundleDir + ": " + ec.message());
  // The upper dir's mode is the container's "/": 0755 as Docker's, not skiff's umask 077.
  if (chmod((bundleDir + "/upper").c_str(), 0755) != 0) return Error::internal("cannot set the mode of " + bundleDir + "/upper");
  std::string lower;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) lower += (lower.empty() ? "" : ":") + *it;  // topmost first
  std::string options = "lowerdir=" + lower + ",upperdir=" + bundleDir + "/upper,workdir=" + bundleDir + "/work";
  if (options.size() >= 4000) return Error::badRequest("image " + image + " has too many layers for one overlay mount");
  if (mount("overlay", (bundleDir + "/rootfs").c_str(), "overlay", nodev ? MS_NODEV : 0, options.c_str()) != 0)
    return Error::internal("mounting the overlay root file system: " + std::string(std::strerror(errno)));
  return {};
}

void removeOverlayRoot(const std::string& bundleDir) {
  umount2((bundleDir + "/rootfs").c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(bundleDir, ec);
}

Result<std::string> findExecutable(const std::string& root, const std::string& command, const std::string& pathVariable) {
  auto usable = [&](const std::string& inside) {
    auto host = resolveInRoot(root, inside);
    struct stat st;
    return host && stat(host->c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
  };
  if (command.find('/') != std::string::npos) {
    std::string abs = command[0] == '/' ? command : "/" + command;
    if (!usable(abs)) return Error::badRequest("exec: \"" + command + "\": stat " + command + ": no such file or directory");
    return command;
  }
  for (const auto& dir : split(pathVariable.empty() ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : pathVariable, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + command;
    if (usable(candidate)) return candidate;
  }
  return Error::badRequest("exec: \"" + command + "\": executable file not found in $PATH");
}

}  // namespace skiff::runtime
