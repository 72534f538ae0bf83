// Layer unpacking against archives made by GNU tar, including hostile ones.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <cstring>
#include <fstream>

#include "image/layer.h"
#include "image/reference.h"

namespace fs = std::filesystem;
using namespace skiff::image;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/skiff-layer-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

TEST(Layer, UnpacksGzipTarWithLinksAndModes) {
  TempDir t;
  fs::create_directories(t.path + "/src/bin");
  std::ofstream(t.path + "/src/bin/tool") << "#!/bin/sh\necho hi\n";
  fs::permissions(t.path + "/src/bin/tool", fs::perms(0755));
  fs::create_symlink("tool", t.path + "/src/bin/alias");
  fs::create_hard_link(t.path + "/src/bin/tool", t.path + "/src/bin/hard");
  ASSERT_EQ(sh("tar -czf " + t.path + "/l.tgz -C " + t.path + "/src ."), 0);
  auto src = openLayerFile(t.path + "/l.tgz");
  ASSERT_TRUE(src.ok());
  auto s = unpackLayer(std::move(*src), t.path + "/out");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(fs::read_symlink(t.path + "/out/bin/alias"), "tool");
  EXPECT_EQ(fs::status(t.path + "/out/bin/tool").permissions() & fs::perms::all, fs::perms(0755));
  EXPECT_EQ(fs::hard_link_count(t.path + "/out/bin/tool"), 2u);
}

// A gzip member that ends exactly where a read of the source ends (umoci's layers, read whole)
// is the end of the stream, not "the gzip stream ends early".
TEST(Layer, GzipEndingAtAReadBoundary) {
  TempDir t;
  fs::create_directories(t.path + "/src");
  std::ofstream(t.path + "/src/f") << "content";
  ASSERT_EQ(sh("tar -czf " + t.path + "/l.tgz -C " + t.path + "/src ."), 0);
  std::ifstream in(t.path + "/l.tgz", std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bool given = false;
  ByteSource all = [&](char* buf, size_t n) -> skiff::Result<size_t> {
    if (given || n < gz.size()) return size_t(0);
    given = true;
    std::memcpy(buf, gz.data(), gz.size());
    return gz.size();
  };
  auto s = unpackLayer(gunzip(all), t.path + "/out");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(fs::exists(t.path + "/out/f"));
}

TEST(Layer, WhiteoutsBecomeOverlayWhiteouts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for mknod and trusted xattrs";
  TempDir t;
  fs::create_directories(t.path + "/src/etc/opaque");
  std::ofstream(t.path + "/src/etc/.wh.removed") << "";
  std::ofstream(t.path + "/src/etc/opaque/.wh..wh..opq") << "";
  ASSERT_EQ(sh("tar -cf " + t.path + "/l.tar -C " + t.path + "/src ."), 0);
  auto src = openLayerFile(t.path + "/l.tar");
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE(unpackLayer(std::move(*src), t.path + "/out").ok());
  struct stat st;
  ASSERT_EQ(lstat((t.path + "/out/etc/removed").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(t.path + "/out/etc/.wh.removed"));
  char v[4] = {0};
  EXPECT_EQ(getxattr((t.path + "/out/etc/opaque").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
}

TEST(Layer, RefusesPathsThatClimbOut) {
  TempDir t;
  fs::create_directories(t.path + "/src/a");
  std::ofstream(t.path + "/src/a/f") << "x";
  // GNU tar keeps "../" members with -P.
  ASSERT_EQ(sh("cd " + t.path + "/src/a && tar -P -cf " + t.path + "/l.tar ../a/f 2>/dev/null"), 0);
  auto src = openLayerFile(t.path + "/l.tar");
  ASSERT_TRUE(src.ok());
  auto s = unpackLayer(std::move(*src), t.path + "/out");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("climbs out"), std::string::npos) << s.error().message;
}

TEST(Layer, ASymlinkCannotRedirectALaterEntryOutside) {
  TempDir t;
  fs::create_directories(t.path + "/one");
  fs::create_directories(t.path + "/two/evil");
  fs::create_directories(t.path + "/outside");
  fs::create_symlink(t.path + "/outside", t.path + "/one/evil");
  std::ofstream(t.path + "/two/evil/planted") << "x";
  ASSERT_EQ(sh("tar -cf " + t.path + "/l.tar -C " + t.path + "/one evil -C " + t.path + "/two evil/planted"), 0);
  auto src = openLayerFile(t.path + "/l.tar");
  ASSERT_TRUE(src.ok());
  auto s = unpackLayer(std::move(*src), t.path + "/out");
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(t.path + "/outside/planted"));
}

TEST(Layer, CorruptDataIsAnErrorNotACrash) {
  std::string garbage(4096, 'x');
  auto s = unpackLayer(memorySource(garbage), "/tmp/skiff-never-created-" + std::to_string(getpid()));
  EXPECT_FALSE(s.ok());
  fs::remove_all("/tmp/skiff-never-created-" + std::to_string(getpid()));
  std::string gz = "\x1f\x8b\x08\x00garbage-after-magic";
  TarEntry e;
  TarReader r(gunzip(memorySource(gz)));
  EXPECT_FALSE(r.next(e).ok());
}

TEST(Reference, ParsesLikeDocker) {
  auto r = parseReference("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->canonical(), "docker.io/library/busybox:latest");
  r = parseReference("127.0.0.1:5000/shop/catalog:v2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "shop/catalog");
  EXPECT_EQ(r->tag, "v2");
  EXPECT_TRUE(r->loopback());
  r = parseReference("ghcr.io/a/b@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->manifestReference(), "sha256:" + std::string(64, 'a'));
  EXPECT_FALSE(parseReference("UPPER/case").ok());
  EXPECT_FALSE(parseReference("x@sha256:short").ok());
  EXPECT_FALSE(parseReference("").ok());
}

}  // namespace
