// Image layers: tar streams (plain or gzip) read entry by entry, and unpacked into a directory of
// their own so overlayfs can stack them. OCI whiteouts (".wh.NAME", ".wh..wh..opq") become
// overlayfs whiteouts (0:0 character devices, the trusted.overlay.opaque xattr).
//
// Layers are untrusted input: every path is resolved component by component with *at() calls
// and O_NOFOLLOW, so no entry (or symlink planted by an earlier entry) can write outside the
// directory; ".." components and malformed headers end the unpack with the reason.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::image {

// A source of bytes: fills up to `n` bytes, returns how many (0 at the end), or an error.
using ByteSource = std::function<Result<size_t>(char* buf, size_t n)>;

// Wraps a source holding gzip data (one or more members) into one yielding the inflated bytes.
ByteSource gunzip(ByteSource compressed);
// Reads from a memory buffer (fuzzing, tests).
ByteSource memorySource(std::string_view data);

struct TarEntry {
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo
  std::string path;
  std::string linkTarget;
  uint64_t size = 0;
  uint32_t mode = 0644;
  uint32_t uid = 0, gid = 0;
  uint32_t devMajor = 0, devMinor = 0;
  int64_t mtime = 0;
};

class TarReader {
 public:
  explicit TarReader(ByteSource source) : source_(std::move(source)) {}
  // The next entry, or nullopt-like false at the end of the archive.
  Result<bool> next(TarEntry& entry);
  // Reads the current entry's data in pieces (must be called before next() to use the data;
  // next() skips whatever is unread).
  Result<size_t> read(char* buf, size_t n);

 private:
  Status readExact(char* buf, size_t n);
  Status skip(uint64_t n);
  ByteSource source_;
  uint64_t remaining_ = 0;  // data bytes of the current entry not yet read
  uint64_t padding_ = 0;    // zero bytes after it up to the 512-byte boundary
};

// Unpacks a layer stream into `dir` (created if missing).
Status unpackLayer(ByteSource tarStream, const std::string& dir);
// Opens a layer blob from a file, gunzipping when it starts with the gzip magic.
Result<ByteSource> openLayerFile(const std::string& path);

}  // namespace skiff::image
