// Runs inside test containers (built static, copied into their images) and tries what a container
// must not be able to do, or reports what it holds, one line per subcommand:
//   walls_probe fds                          open fds besides the one listing them ("fds: 0 1 2")
//   walls_probe clone-ns | clone3-ns         a child in new user+net namespaces
//   walls_probe fork                         a plain child (the filter must still allow it)
//   walls_probe io-uring | personality       io_uring_setup, personality(READ_IMPLIES_EXEC)
//   walls_probe mknod-open PATH b|c MAJ MIN  creates a device node, then opens it read-write
//   walls_probe open PATH                    opens a file read-write
//   walls_probe status                       Cap*, NoNewPrivs, Seccomp, Uid, Gid, Groups
// Outcomes print as "<what>: allowed" or "<what>: <errno name>" for the tests to match.
#include <dirent.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace {

int report(const std::string& what, bool ok) {
  std::cout << what << ": " << (ok ? "allowed" : strerrorname_np(errno)) << std::endl;
  return 0;
}

int listFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return report("fds", false);
  std::string out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == dirfd(dir)) continue;
    out += std::string(" ") + e->d_name;
  }
  closedir(dir);
  std::cout << "fds:" << out << std::endl;
  return 0;
}

// The child exits at once; only whether the kernel (and the filter) let it exist matters.
int reap(const std::string& what, long pid) {
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid_t(pid), nullptr, 0);
  return report(what, pid > 0);
}

int mknodOpen(int argc, char** argv) {
  if (argc < 6) return 2;
  std::string path = argv[2];
  mode_t type = argv[3][0] == 'b' ? S_IFBLK : S_IFCHR;
  unlink(path.c_str());
  if (mknod(path.c_str(), type | 0666, makedev(std::atoi(argv[4]), std::atoi(argv[5]))) != 0) return report("mknod " + path, false);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  report("open " + path, fd >= 0);
  if (fd >= 0) close(fd);
  return 0;
}

int status() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    for (const char* key : {"Cap", "NoNewPrivs:", "Seccomp:", "Uid:", "Gid:", "Groups:"})
      if (line.rfind(key, 0) == 0) std::cout << line << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  if (what == "fds") return listFds();
  if (what == "clone-ns") return reap(what, syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (what == "clone3-ns") {
    clone_args args{};
    args.flags = CLONE_NEWUSER | CLONE_NEWNET;
    args.exit_signal = SIGCHLD;
    return reap(what, syscall(SYS_clone3, &args, sizeof args));
  }
  if (what == "fork") return reap(what, fork());
  if (what == "io-uring") {
    io_uring_params params{};
    long fd = syscall(SYS_io_uring_setup, 1, &params);
    if (fd >= 0) close(int(fd));
    return report(what, fd >= 0);
  }
  if (what == "personality") {
    int previous = personality(READ_IMPLIES_EXEC);
    bool ok = previous != -1;
    if (ok) personality(previous);
    return report(what, ok);
  }
  if (what == "mknod-open") return mknodOpen(argc, argv);
  if (what == "open" && argc > 2) {
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return report(std::string("open ") + argv[2], fd >= 0);
  }
  if (what == "status") return status();
  std::cerr << "usage: walls_probe fds|clone-ns|clone3-ns|fork|io-uring|personality|mknod-open|open|status\n";
  return 2;
}
