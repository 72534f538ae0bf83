// SPDY/3.1 as kubectl's port-forward speaks it: header blocks compressed with the SPDY/3
// dictionary on one zlib context per direction, frames split anywhere, bounds enforced.
#include "http/spdy.h"

#include <gtest/gtest.h>

namespace skiff::http::spdy {
namespace {

TEST(Spdy, TheDictionaryIsSpdy3s) {
  EXPECT_EQ(Codec::dictionary().size(), 1423u);
  EXPECT_EQ(Codec::dictionary().substr(0, 11), std::string("\0\0\0\x07options", 11));
  EXPECT_TRUE(Codec::dictionary().ends_with("enq=0."));
}

TEST(Spdy, StreamsAndDataRoundTripAcrossOneCompressionContext) {
  Codec client, server;
  // One statement per block: they share the compression context, so their order matters.
  std::string wire = client.synStream(1, {{"streamtype", "error"}, {"port", "8080"}, {"requestid", "0"}});
  wire += client.synStream(3, {{"streamtype", "data"}, {"port", "8080"}, {"requestid", "0"}});
  wire += Codec::data(3, "GET / HTTP/1.1\r\n\r\n", true) + Codec::ping(7);
  // Arrives a byte at a time: frames are whole only when their last byte came.
  std::vector<Frame> frames;
  for (char c : wire) {
    server.feed(std::string_view(&c, 1));
    auto f = server.next();
    ASSERT_TRUE(f) << f.error().message;
    if (*f) frames.push_back(std::move(**f));
  }
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type, FrameType::kSynStream);
  EXPECT_EQ(frames[0].headers.at("streamtype"), "error");
  EXPECT_EQ(frames[1].streamId, 3u);
  EXPECT_EQ(frames[1].headers.at("streamtype"), "data");  // the second block needs the first's context
  EXPECT_EQ(frames[2].type, FrameType::kData);
  EXPECT_TRUE(frames[2].fin());
  EXPECT_EQ(frames[2].data, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(frames[3].type, FrameType::kPing);
  EXPECT_EQ(frames[3].value, 7u);
  // And back: the server's replies parse on the client's side.
  client.feed(server.synReply(1, {}));
  client.feed(server.synReply(3, {{"x", "y"}}));
  auto r1 = client.next();
  auto r2 = client.next();
  ASSERT_TRUE(r1 && *r1 && r2 && *r2);
  EXPECT_EQ((*r2)->headers.at("x"), "y");
}

TEST(Spdy, RefusesWhatIsNotSpdy3) {
  Codec c;
  c.feed(std::string("\x80\x02\x00\x01\x00\x00\x00\x00", 8));
  auto v2 = c.next();
  ASSERT_FALSE(v2);
  EXPECT_NE(v2.error().message.find("version 2"), std::string::npos);
  Codec big;
  big.feed(std::string("\x00\x00\x00\x01\x00\xff\xff\xff", 8));
  EXPECT_FALSE(big.next()) << "a 16 MiB frame is refused before it is buffered";
  Codec garbage;
  garbage.feed(std::string("\x80\x03\x00\x01\x00\x00\x00\x0e", 8) + std::string(10, '\0') + "junk");
  EXPECT_FALSE(garbage.next());
}

}  // namespace
}  // namespace skiff::http::spdy
