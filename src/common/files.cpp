#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace skiff {

Status writeFileAtomic(const std::string& path, std::string_view data, mode_t mode, uid_t uid, gid_t gid) {
  std::string tmp = path + ".tmp";
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
    return Error::unavailable("cannot remove the stale " + tmp + ": " + std::strerror(errno));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Error::unavailable("cannot create " + tmp + ": " + std::strerror(errno));
  // The umask may have narrowed the mode (never widened it): set exactly what was asked before
  // any byte is in the file.
  bool ok = (uid == uid_t(-1) && gid == gid_t(-1)) || ::fchown(fd, uid, gid) == 0;
  ok = ok && ::fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += size_t(n);
  }
  int saved = errno;
  ok = ok && ::fsync(fd) == 0;
  if (!ok) saved = errno;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved = errno;
    ::unlink(tmp.c_str());
    return Error::unavailable("cannot write " + path + ": " + std::strerror(saved));
  }
  return {};
}

Status makePrivateDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);  // the umask (077 in servers) makes them 0700
  if (ec) return Error::unavailable("cannot create " + path + ": " + ec.message());
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error::unavailable("cannot read " + path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0 && ::chmod(path.c_str(), 0700) != 0)
    return Error::unavailable("cannot make " + path + " private (0700): " + std::strerror(errno));
  return {};
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

Status DataDirLock::acquire(const std::string& dir) {
  std::string path = dir + "/skiff.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return Error::unavailable("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    (void)n;
    return Error::unavailable("another skiff (pid " + std::string(pid) + ") is already using " + dir +
                              "; stop it first or pick another --data-dir");
  }
  std::string me = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
    // The pid is only informative; the lock is what matters.
  }
  return {};
}

}  // namespace skiff
