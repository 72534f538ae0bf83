#include "proxy/http1.h"

#include <gtest/gtest.h>

namespace skiff::proxy::http1 {
namespace {

Parse request(std::string_view in, Head& h, Error& e) { return parseRequest(in, 60 * 1024, h, e); }

TEST(Http1Request, ParsesHeadAndFraming) {
  Head h;
  Error e;
  std::string in = "\r\nPOST /a?b=1 HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\nX-A:  v \r\n\r\nhello";
  ASSERT_EQ(request(in, h, e), Parse::kComplete) << e.reason;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.host, "shop");
  EXPECT_EQ(h.header("x-a"), "v");
  EXPECT_EQ(h.framing, Framing::kLength);
  EXPECT_EQ(h.contentLength, 5u);
  EXPECT_EQ(in.substr(h.length), "hello");
  EXPECT_TRUE(h.keepAlive);
}

TEST(Http1Request, IncompleteUntilBlankLine) {
  Head h;
  Error e;
  EXPECT_EQ(request("GET / HTTP/1.1\r\nHost: a\r\n", h, e), Parse::kIncomplete);
}

TEST(Http1Request, RefusesWhatCouldSmuggleRequests) {
  struct Case {
    const char* in;
    int status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
  };
  for (const auto& c : cases) {
    Head h;
    Error e;
    EXPECT_EQ(request(c.in, h, e), Parse::kError) << c.in;
    EXPECT_EQ(e.status, c.status) << c.in;
  }
}

TEST(Http1Request, OversizedHeadIs431) {
  Head h;
  Error e;
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(70 * 1024, 'a');
  EXPECT_EQ(request(in, h, e), Parse::kError);
  EXPECT_EQ(e.status, 431);
}

TEST(Http1Request, ConnectionTokensAndHopByHop) {
  Head h;
  Error e;
  ASSERT_EQ(request("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n", h, e), Parse::kComplete);
  EXPECT_TRUE(h.keepAlive);
  EXPECT_TRUE(h.isHopByHop("x-secret"));
  EXPECT_TRUE(h.isHopByHop("Keep-Alive"));
  EXPECT_FALSE(h.isHopByHop("host"));
  ASSERT_EQ(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", h, e), Parse::kComplete);
  EXPECT_TRUE(h.upgrade);
  ASSERT_EQ(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", h, e), Parse::kComplete);
  EXPECT_FALSE(h.keepAlive);
}

TEST(Http1Response, FramingByStatusAndMethod) {
  Head h;
  Error e;
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4096, "GET", h, e), Parse::kComplete);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.framing, Framing::kLength);
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 4096, "HEAD", h, e), Parse::kComplete);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(parseResponse("HTTP/1.1 204 No Content\r\n\r\n", 4096, "GET", h, e), Parse::kComplete);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\n\r\nbody until close", 4096, "GET", h, e), Parse::kComplete);
  EXPECT_EQ(h.framing, Framing::kUntilClose);
  EXPECT_FALSE(h.keepAlive);
  ASSERT_EQ(parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 4096, "GET", h, e), Parse::kComplete);
  EXPECT_FALSE(h.keepAlive);
  EXPECT_EQ(parseResponse("HTTP/1.1 2000 OK\r\n\r\n", 4096, "GET", h, e), Parse::kError);
  EXPECT_EQ(e.status, 502);
}

TEST(Http1Chunked, FindsTheEndAcrossPieces) {
  std::string body = "4;x=y\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: 1\r\n\r\nNEXT";
  for (size_t split = 0; split <= body.size(); ++split) {
    ChunkedFramer f;
    size_t used = f.feed(body.data(), split);
    if (!f.done()) used += f.feed(body.data() + split, body.size() - split);
    ASSERT_TRUE(f.done()) << split;
    EXPECT_EQ(used, body.size() - 4) << split;
  }
  ChunkedFramer bad;
  bad.feed("zz\r\n", 4);
  EXPECT_TRUE(bad.failed());
}

}  // namespace
}  // namespace skiff::proxy::http1
