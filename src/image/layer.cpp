#include "image/layer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <optional>
#include <algorithm>
#include <vector>

namespace skiff::image {
namespace {

std::string errnoText() { return std::strerror(errno); }

// Owns a file descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) close(fd);
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Octal (or base-256, for big values) numeric header fields.
Result<uint64_t> number(const char* field, size_t len) {
  if (len > 0 && (static_cast<unsigned char>(field[0]) & 0x80)) {
    uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return Error::badRequest("tar header number out of range");
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < len && (field[i] == ' ' || field[i] == '\0')) ++i;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) return Error::badRequest("tar header number out of range");
    v = v * 8 + uint64_t(field[i] - '0');
  }
  for (; i < len; ++i)
    if (field[i] != ' ' && field[i] != '\0') return Error::badRequest("corrupt tar header: a numeric field holds a non-octal digit");
  return v;
}

std::string cstr(const char* field, size_t len) { return std::string(field, strnlen(field, len)); }

// Splits a member path into clean components; refuses "..".
Result<std::vector<std::string>> components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return Error::badRequest("layer entry \"" + path + "\" climbs out of the layer with \"..\"");
    if (!part.empty() && part != ".") out.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// Opens (creating when asked) the directory holding parts[0..n) under root, never following a
// symlink: a link planted by an earlier entry cannot redirect a later one outside the layer.
Result<Fd> openParent(int root, const std::vector<std::string>& parts, size_t n, bool create) {
  Fd cur(dup(root));
  for (size_t i = 0; i < n; ++i) {
    int fd = openat(cur.fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur.fd, parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return Error::internal("mkdir " + parts[i] + ": " + errnoText());
      fd = openat(cur.fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) (void)fchmod(fd, 0755);  // as a tar without the entry means it, whatever skiff's umask
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        return Error::badRequest("layer entry goes through \"" + parts[i] + "\", which is not a directory (a symlink?)");
      return Error::internal("open " + parts[i] + ": " + errnoText());
    }
    cur = Fd(fd);
  }
  return cur;
}

// Removes whatever is at name (a whole tree for directories) so an entry can replace it.
void removeAt(int dir, const std::string& name) {
  struct stat st;
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      DIR* d = fdopendir(fd);
      std::vector<std::string> names;
      while (dirent* e = d ? readdir(d) : nullptr)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
      for (const auto& n : names) removeAt(dirfd(d), n);
      if (d) closedir(d);
      else close(fd);
    }
    unlinkat(dir, name.c_str(), AT_REMOVEDIR);
  } else {
    unlinkat(dir, name.c_str(), 0);
  }
}

}  // namespace

ByteSource memorySource(std::string_view data) {
  auto pos = std::make_shared<size_t>(0);
  return [data, pos](char* buf, size_t n) -> Result<size_t> {
    size_t k = std::min(n, data.size() - *pos);
    std::memcpy(buf, data.data() + *pos, k);
    *pos += k;
    return k;
  };
}

ByteSource gunzip(ByteSource compressed) {
  struct State {
    ByteSource in;
    z_stream z{};
    std::vector<char> buf = std::vector<char>(65536);
    bool ended = false, inputDone = false;
    ~State() { inflateEnd(&z); }
  };
  auto st = std::make_shared<State>();
  st->in = std::move(compressed);
  inflateInit2(&st->z, 16 + MAX_WBITS);
  return [st](char* out, size_t n) -> Result<size_t> {
    if (st->ended) return size_t(0);
    st->z.next_out = reinterpret_cast<Bytef*>(out);
    st->z.avail_out = uInt(n);
    // Reads more compressed input when zlib has used up what it had.
    auto refill = [&]() -> Status {
      if (st->z.avail_in != 0 || st->inputDone) return {};
      auto got = st->in(st->buf.data(), st->buf.size());
      if (!got) return got.error();
      if (*got == 0) st->inputDone = true;
      st->z.next_in = reinterpret_cast<Bytef*>(st->buf.data());
      st->z.avail_in = uInt(*got);
      return {};
    };
    while (st->z.avail_out == n) {
      if (Status s = refill(); !s) return s.error();
      int rc = inflate(&st->z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        // Another gzip member may follow (pigz, concatenated streams): look for more input
        // before deciding, since a member can end exactly where a read of the source ended.
        if (Status s = refill(); !s) return s.error();
        if (st->z.avail_in == 0 && st->inputDone) {
          st->ended = true;
          break;
        }
        inflateReset(&st->z);
        continue;
      }
      if (rc == Z_BUF_ERROR && st->inputDone && st->z.avail_in == 0)
        return Error::badRequest("corrupt layer: the gzip stream ends early");
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Error::badRequest(std::string("corrupt layer: gzip: ") + (st->z.msg ? st->z.msg : "inflate failed"));
    }
    return n - st->z.avail_out;
  };
}

Status TarReader::readExact(char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    auto got = source_(buf + done, n - done);
    if (!got) return got.error();
    if (*got == 0) return Error::badRequest("corrupt layer: the tar stream ends in the middle of an entry");
    done += *got;
  }
  return {};
}

Status TarReader::skip(uint64_t n) {
  char buf[8192];
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, sizeof buf));
    if (Status s = readExact(buf, k); !s) return s;
    n -= k;
  }
  return {};
}

Result<size_t> TarReader::read(char* buf, size_t n) {
  size_t k = size_t(std::min<uint64_t>(n, remaining_));
  if (k == 0) return size_t(0);
  if (Status s = readExact(buf, k); !s) return s.error();
  remaining_ -= k;
  return k;
}

Result<bool> TarReader::next(TarEntry& entry) {
  if (Status s = skip(remaining_ + padding_); !s) return s.error();
  remaining_ = padding_ = 0;
  std::string longName, longLink, paxPath, paxLink;
  std::optional<uint64_t> paxSize;
  for (int guard = 0; guard < 64; ++guard) {
    char h[512];
    // The archive ends at a zero block (or, leniently, where the stream ends).
    size_t got = 0;
    while (got < sizeof h) {
      auto r = source_(h + got, sizeof h - got);
      if (!r) return r.error();
      if (*r == 0) break;
      got += *r;
    }
    if (got == 0) return false;
    if (got < sizeof h) return Error::badRequest("corrupt layer: the tar stream ends inside a header");
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) return false;
    // Checksum: the header's bytes summed with the checksum field read as spaces.
    auto sum = number(h + 148, 8);
    if (!sum) return sum.error();
    uint64_t computed = 0;
    for (int i = 0; i < 512; ++i) computed += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (*sum != computed) return Error::badRequest("corrupt layer: a tar header's checksum does not match");
    auto size = number(h + 124, 12);
    auto mode = number(h + 100, 8);
    auto uid = number(h + 108, 8);
    auto gid = number(h + 116, 8);
    auto mtime = number(h + 136, 12);
    auto major = number(h + 329, 8);
    auto minor = number(h + 337, 8);
    for (auto* r : {&size, &mode, &uid, &gid, &mtime, &major, &minor})
      if (!*r) return r->error();
    char type = h[156];
    uint64_t dataSize = paxSize && type != 'x' && type != 'L' && type != 'K' ? *paxSize : *size;
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      if (dataSize > (1u << 20)) return Error::badRequest("corrupt layer: an extended header is larger than 1 MiB");
      std::string data(size_t(dataSize), '\0');
      if (Status s = readExact(data.data(), data.size()); !s) return s.error();
      if (Status s = skip((512 - dataSize % 512) % 512); !s) return s.error();
      if (type == 'L') longName = cstr(data.data(), data.size());
      if (type == 'K') longLink = cstr(data.data(), data.size());
      if (type == 'x') {
        // Records: "<len> key=value\n".
        size_t pos = 0;
        while (pos < data.size()) {
          size_t space = data.find(' ', pos);
          if (space == std::string::npos) break;
          size_t len = std::strtoull(data.c_str() + pos, nullptr, 10);
          if (len == 0 || pos + len > data.size() || len <= space - pos) return Error::badRequest("corrupt layer: malformed pax record");
          std::string rec = data.substr(space + 1, pos + len - space - 2);
          pos += len;
          auto eq = rec.find('=');
          if (eq == std::string::npos) continue;
          std::string key = rec.substr(0, eq), value = rec.substr(eq + 1);
          if (key == "path") paxPath = value;
          else if (key == "linkpath") paxLink = value;
          else if (key == "size") paxSize = std::strtoull(value.c_str(), nullptr, 10);
        }
      }
      continue;
    }
    entry = TarEntry{};
    entry.type = type == '\0' || type == '7' ? '0' : type;
    std::string prefix = std::memcmp(h + 257, "ustar", 5) == 0 ? cstr(h + 345, 155) : "";
    entry.path = !paxPath.empty() ? paxPath : !longName.empty() ? longName : (prefix.empty() ? "" : prefix + "/") + cstr(h, 100);
    entry.linkTarget = !paxLink.empty() ? paxLink : !longLink.empty() ? longLink : cstr(h + 157, 100);
    entry.size = dataSize;
    entry.mode = uint32_t(*mode & 07777);
    entry.uid = uint32_t(*uid);
    entry.gid = uint32_t(*gid);
    entry.mtime = int64_t(*mtime);
    entry.devMajor = uint32_t(*major);
    entry.devMinor = uint32_t(*minor);
    // Header-only types carry no data whatever their size field says (as Go's archive/tar reads them).
    bool headerOnly = std::string_view("123456").find(entry.type) != std::string_view::npos;
    remaining_ = headerOnly ? 0 : dataSize;
    padding_ = (512 - remaining_ % 512) % 512;
    return true;
  }
  return Error::badRequest("corrupt layer: too many extended headers in a row");
}

Result<ByteSource> openLayerFile(const std::string& path) {
  int raw = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return Error::notFound("cannot open layer " + path + ": " + errnoText());
  auto fd = std::make_shared<Fd>(raw);
  unsigned char magic[2] = {0, 0};
  bool gz = pread(raw, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  ByteSource file = [fd](char* buf, size_t n) -> Result<size_t> {
    while (true) {
      ssize_t k = ::read(fd->fd, buf, n);
      if (k >= 0) return size_t(k);
      if (errno != EINTR) return Error::internal(std::string("reading layer: ") + std::strerror(errno));
    }
  };
  return gz ? gunzip(std::move(file)) : file;
}

Status unpackLayer(ByteSource tarStream, const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  Fd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.fd < 0) return Error::internal("cannot open " + dir + ": " + errnoText());
  (void)fchmod(root.fd, 0755);
  TarReader tar(std::move(tarStream));
  TarEntry e;
  std::vector<char> buf(1 << 16);
  while (true) {
    auto more = tar.next(e);
    if (!more) return more.error();
    if (!*more) return {};
    auto parts = components(e.path);
    if (!parts) return parts.error();
    if (parts->empty()) continue;  // "./" itself
    auto parent = openParent(root.fd, *parts, parts->size() - 1, true);
    if (!parent) return parent.error();
    const std::string& name = parts->back();
    int pfd = parent->fd;
    auto fail = [&](const char* what) {
      return Error::internal(std::string(what) + " " + e.path + ": " + errnoText());
    };
    if (name == ".wh..wh..opq") {
      if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) != 0) return fail("marking opaque");
      continue;
    }
    if (name.starts_with(".wh.")) {
      std::string hidden = name.substr(4);
      removeAt(pfd, hidden);
      if (mknodat(pfd, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) return fail("whiteout");
      continue;
    }
    struct stat existing;
    bool exists = fstatat(pfd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(e.type == '5' && S_ISDIR(existing.st_mode))) removeAt(pfd, name);
    switch (e.type) {
      case '0': {
        Fd f(openat(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (f.fd < 0) return fail("create");
        while (true) {
          auto n = tar.read(buf.data(), buf.size());
          if (!n) return n.error();
          if (*n == 0) break;
          for (size_t off = 0; off < *n;) {
            ssize_t w = write(f.fd, buf.data() + off, *n - off);
            if (w < 0) return fail("write");
            off += size_t(w);
          }
        }
        if (fchown(f.fd, e.uid, e.gid) != 0 || fchmod(f.fd, e.mode) != 0) return fail("chown/chmod");
        break;
      }
      case '5':
        if (!exists && mkdirat(pfd, name.c_str(), 0755) != 0) return fail("mkdir");
        if (fchownat(pfd, name.c_str(), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0 || fchmodat(pfd, name.c_str(), e.mode, 0) != 0)
          return fail("chown/chmod");
        break;
      case '2':
        if (symlinkat(e.linkTarget.c_str(), pfd, name.c_str()) != 0) return fail("symlink");
        if (fchownat(pfd, name.c_str(), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0) return fail("chown");
        break;
      case '1': {
        auto target = components(e.linkTarget);
        if (!target) return target.error();
        if (target->empty()) return Error::badRequest("layer hard link " + e.path + " has an empty target");
        auto tparent = openParent(root.fd, *target, target->size() - 1, false);
        if (!tparent) return tparent.error();
        if (linkat(tparent->fd, target->back().c_str(), pfd, name.c_str(), 0) != 0) return fail("hard link");
        break;
      }
      case '3':
      case '4':
      case '6': {
        mode_t kind = e.type == '3' ? S_IFCHR : e.type == '4' ? S_IFBLK : S_IFIFO;
        if (mknodat(pfd, name.c_str(), kind | e.mode, makedev(e.devMajor, e.devMinor)) != 0) return fail("mknod");
        if (fchownat(pfd, name.c_str(), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0) return fail("chown");
        if (fchmodat(pfd, name.c_str(), e.mode, 0) != 0) return fail("chmod");  // mknod's mode went through the umask
        break;
      }
      default:
        break;  // unknown entry types carry nothing a container needs; their data is skipped
    }
  }
}

}  // namespace skiff::image
